package phone

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fakeLookup is a local stand-in for the Twilio Lookup v2 API: it checks the request shape and
// answers from a table keyed by E.164 number.
func fakeLookup(t *testing.T, answers map[string]any) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok || user != "AC123" || pass != "token" {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"code": 20003, "message": "Authenticate", "status": 401})
			return
		}
		if r.Method != http.MethodGet || r.URL.Query().Get("Fields") != "line_type_intelligence" {
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
		}
		const prefix = "/v2/PhoneNumbers/"
		if len(r.URL.Path) <= len(prefix) || r.URL.Path[:len(prefix)] != prefix {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		a, ok := answers[r.URL.Path[len(prefix):]]
		switch {
		case !ok:
			w.WriteHeader(http.StatusNotFound)
			json.NewEncoder(w).Encode(map[string]any{"code": 20404, "message": "not found", "status": 404})
		case a == "boom":
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"code": 20500, "message": "down"}`))
		case a == "garbage":
			w.Write([]byte(`<html>`))
		default:
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(a)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// lti is the Lookup v2 body for a number with the given line type.
func lti(number, typ string) map[string]any {
	return map[string]any{"phone_number": number, "valid": true,
		"line_type_intelligence": map[string]any{"type": typ, "carrier_name": "Example", "error_code": nil}}
}

func TestTwilioLookup(t *testing.T) {
	srv := fakeLookup(t, map[string]any{
		"+12127365000":  lti("+12127365000", "landline"),
		"+12025550123":  lti("+12025550123", "mobile"),
		"+12025550124":  lti("+12025550124", "nonFixedVoip"),
		"+12025550125":  lti("+12025550125", "fixedVoip"),
		"+12025550126":  lti("+12025550126", "tollFree"),
		"+12025550127":  lti("+12025550127", "somethingNew"),
		"+12025550128":  map[string]any{"phone_number": "+12025550128", "valid": true, "line_type_intelligence": map[string]any{"type": nil, "error_code": 60600}},
		"+12025550129":  map[string]any{"phone_number": "+12025550129", "valid": false, "line_type_intelligence": nil},
		"+447400123456": lti("+447400123456", "mobile"),
		"+12025550130":  "boom",
		"+12025550131":  "garbage",
	})
	l := &TwilioLookup{BaseURL: srv.URL + "/", AccountSID: "AC123", AuthToken: "token", Client: srv.Client()}
	tests := map[string]struct {
		e164    string
		want    LineType
		wantErr error // nil, ErrInvalid, or errAny
	}{
		"US landline":                  {"+12127365000", FixedLine, nil},
		"US mobile":                    {"+12025550123", Mobile, nil},
		"non-fixed VoIP":               {"+12025550124", VoIP, nil},
		"fixed VoIP":                   {"+12025550125", VoIP, nil},
		"toll free":                    {"+12025550126", TollFree, nil},
		"a type we do not know":        {"+12025550127", Unknown, nil},
		"lookup could not tell":        {"+12025550128", Unknown, nil},
		"invalid per the API":          {"+12025550129", Unknown, ErrInvalid},
		"not found":                    {"+19999999999", Unknown, ErrInvalid},
		"UK mobile":                    {"+447400123456", Mobile, nil},
		"server error":                 {"+12025550130", Unknown, errAny},
		"not JSON":                     {"+12025550131", Unknown, errAny},
		"not E.164 is refused locally": {"2025550123", Unknown, errAny},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := l.LineType(context.Background(), tt.e164)
			if got != tt.want {
				t.Errorf("LineType(%s) = %s, want %s", tt.e164, got, tt.want)
			}
			switch {
			case tt.wantErr == nil && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr == errAny && err == nil:
				t.Error("want an error")
			case tt.wantErr == ErrInvalid && !errors.Is(err, ErrInvalid):
				t.Errorf("error %v, want ErrInvalid", err)
			}
		})
	}

	t.Run("wrong credentials", func(t *testing.T) {
		bad := &TwilioLookup{BaseURL: srv.URL, AccountSID: "AC123", AuthToken: "wrong", Client: srv.Client()}
		if _, err := bad.LineType(context.Background(), "+12025550123"); err == nil {
			t.Error("a 401 must be an error")
		}
	})
}

// errAny stands for "some error, which one does not matter" in test tables.
var errAny = errors.New("any error")

// stubLookup answers every number the same way.
type stubLookup struct {
	t   LineType
	err error
}

func (s stubLookup) LineType(context.Context, string) (LineType, error) { return s.t, s.err }

func TestResolve(t *testing.T) {
	us, _ := Parse("(212) 736-5000", "US")
	uk, _ := Parse("+44 20 7946 0958", "US")
	down := errors.New("lookup down")
	tests := map[string]struct {
		n       Number
		lookup  LineTypeLookup
		want    LineType
		wantErr error
	}{
		"no lookup keeps the plan":            {us, nil, FixedLineOrMobile, nil},
		"lookup finds the US landline":        {us, stubLookup{FixedLine, nil}, FixedLine, nil},
		"lookup finds a ported VoIP number":   {uk, stubLookup{VoIP, nil}, VoIP, nil},
		"lookup does not know: keep the plan": {uk, stubLookup{Unknown, nil}, FixedLine, nil},
		"lookup fails: plan and the error":    {us, stubLookup{Unknown, down}, FixedLineOrMobile, down},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := Resolve(context.Background(), tt.n, tt.lookup)
			if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Errorf("Resolve = %s, %v; want %s, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}
