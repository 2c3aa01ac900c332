package authn

import "testing"

func TestACRFor(t *testing.T) {
	tests := []struct {
		amr  []string
		want string
	}{
		{[]string{"pwd"}, ACRSingleFactor},
		{[]string{"pwd", "otp", "mfa"}, ACRMultiFactor},
		{[]string{"pwd", "sms", "mfa"}, ACRMultiFactor},
		{[]string{"swk", "user"}, ACRPhishingRes},
		{[]string{"hwk", "user"}, ACRPhishingHW},
		{[]string{"hwk"}, ACRSingleFactor}, // no user verification: a possession factor only
		{nil, ACRSingleFactor},
	}
	for _, tt := range tests {
		if got := ACRFor(tt.amr); got != tt.want {
			t.Errorf("ACRFor(%v) = %q, want %q", tt.amr, got, tt.want)
		}
	}
	if ACRRank(ACRMultiFactor) <= ACRRank(ACRSingleFactor) || ACRRank("nope") != -1 {
		t.Error("acr ranks out of order")
	}
}
