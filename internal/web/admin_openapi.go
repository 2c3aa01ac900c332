package web

import (
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// The OpenAPI 3.1 document of the admin API, generated from the same route table that registers
// the handlers (apiRoutes), with the schemas read from the Go types' JSON tags: an endpoint
// cannot exist without being described, nor a field without being listed.

var pathParam = regexp.MustCompile(`\{([a-z]+)\}`)

// OpenAPI returns the document.
func (x *AdminConsole) OpenAPI() map[string]any {
	schemas := map[string]any{}
	errorRef := map[string]any{"$ref": "#/components/schemas/Error"}
	schemas["Error"] = map[string]any{"type": "object", "required": []string{"error"}, "properties": map[string]any{
		"error":             map[string]any{"type": "string", "description": "invalid_request, invalid_token, insufficient_scope, not_found, conflict, mfa_locked, self, temporarily_unavailable"},
		"error_description": map[string]any{"type": "string"}, "field": map[string]any{"type": "string", "description": "the input at fault"}}}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": errorRef}}}
	}
	paths := map[string]any{}
	for _, rt := range x.apiRoutes() {
		full := APIPrefix + rt.Path
		item, _ := paths[full].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[full] = item
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.Path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.Query {
			params = append(params, map[string]any{"name": q, "in": "query", "required": false, "schema": map[string]any{"type": "string"}})
		}
		status := rt.Status
		if status == 0 {
			status = http.StatusOK
		}
		responses := map[string]any{
			strconv.Itoa(status): map[string]any{"description": "success", "content": map[string]any{"application/json": map[string]any{"schema": schemaRef(schemas, rt.Response)}}},
			"400":                errResp("invalid input (the field is named)"),
			"401":                errResp("no token, or an invalid, expired or revoked one (with WWW-Authenticate)"),
			"403":                errResp("the token lacks the scope (insufficient_scope)"),
			"404":                errResp("no such resource in the token's tenant"),
		}
		if rt.Method != "GET" {
			responses["409"] = errResp("conflict: a name or email already used, MFA locked on, or an administrator acting on their own account")
		}
		op := map[string]any{
			"operationId": operationID(rt.Method, rt.Path), "summary": rt.Summary,
			"security":  []any{map[string]any{"adminToken": []string{rt.Scope}}},
			"responses": responses,
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": schemaRef(schemas, rt.Request)}}}
		}
		item[strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Tessera admin API", "version": "1",
			"description": "Administration of one tenant: policy, team members and their security status, practices, relying-party clients, caregiver (proxy) grants and the audit trail. Authorise with a client_credentials access token of a service client that was granted admin:read or admin:write; the token acts on its client's tenant only."},
		"servers": []any{map[string]any{"url": x.l.Issuer}},
		"paths":   paths,
		"components": map[string]any{
			"schemas": schemas,
			"securitySchemes": map[string]any{"adminToken": map[string]any{"type": "oauth2", "flows": map[string]any{
				"clientCredentials": map[string]any{"tokenUrl": x.l.Issuer + "/oauth/token",
					"scopes": map[string]any{"admin:read": "read the tenant's administration data", "admin:write": "change it (includes reading)"}}}}},
		},
	}
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.Split(path, "/") {
		part = strings.Trim(part, "{}")
		for _, w := range strings.Split(part, "-") {
			if w != "" {
				b.WriteString(strings.ToUpper(w[:1]) + w[1:])
			}
		}
	}
	return b.String()
}

// schemaRef describes v's type under components.schemas and returns a reference to it.
func schemaRef(schemas map[string]any, v any) map[string]any {
	return schemaOf(schemas, reflect.TypeOf(v))
}

func schemaOf(schemas map[string]any, t reflect.Type) map[string]any {
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(schemas, t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(schemas, t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(schemas, t.Elem())}
	case reflect.Struct:
		name := t.Name()
		if _, done := schemas[name]; !done {
			props := map[string]any{}
			schemas[name] = map[string]any{"type": "object", "properties": props}
			addFields(schemas, t, props)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	return map[string]any{}
}

func addFields(schemas map[string]any, t reflect.Type, props map[string]any) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Anonymous {
			addFields(schemas, f.Type, props)
			continue
		}
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = schemaOf(schemas, f.Type)
	}
}

func (x *AdminConsole) openAPI(w http.ResponseWriter, r *http.Request) {
	apiJSON(w, http.StatusOK, x.OpenAPI())
}
