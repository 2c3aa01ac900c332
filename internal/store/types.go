package store

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
)

// StringList is a []string kept as a JSON array in a TEXT column.
type StringList []string

// Value implements driver.Valuer.
func (l StringList) Value() (driver.Value, error) {
	if l == nil {
		return "[]", nil
	}
	b, err := json.Marshal([]string(l))
	return string(b), err
}

// Scan implements sql.Scanner.
func (l *StringList) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	case nil:
		*l = nil
		return nil
	default:
		return fmt.Errorf("store: cannot scan %T into StringList", src)
	}
	return json.Unmarshal(b, (*[]string)(l))
}
