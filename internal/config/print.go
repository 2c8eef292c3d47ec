package config

import (
	"bytes"
	"fmt"
	"reflect"
	"regexp"

	"gopkg.in/yaml.v3"
)

// redacted replaces a secret when the configuration is printed.
const redacted = "<redacted>"

// Marshal renders cfg as YAML, every key included, with secret keys replaced
// by "<redacted>" and passwords inside any other connection string masked:
// what `cdcflow config print` shows.
func Marshal(cfg *Config) ([]byte, error) {
	return marshal(cfg)
}

// marshal renders cfg (a pointer to Config) as YAML, every key included, with secret keys
// replaced by "<redacted>" and passwords inside any other connection
// string masked.
func marshal(cfg any) ([]byte, error) {
	n, err := configNode(reflect.ValueOf(cfg).Elem(), false)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(n); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return buf.Bytes(), nil
}

func configNode(v reflect.Value, secret bool) (*yaml.Node, error) {
	t := v.Type()
	switch {
	case secret:
		if v.IsZero() {
			break // an unset secret shows as unset
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Value: redacted}, nil
	case isSection(t):
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range sectionFields(t) {
			c, err := configNode(v.FieldByIndex(f.index), f.secret)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: f.key}, c)
		}
		return n, nil
	case t.Kind() == reflect.Slice && !v.IsNil():
		n := &yaml.Node{Kind: yaml.SequenceNode}
		if v.Len() > 0 && isScalar(t.Elem()) {
			n.Style = yaml.FlowStyle
		}
		for i := range v.Len() {
			c, err := configNode(v.Index(i), false)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, c)
		}
		return n, nil
	case t.Kind() == reflect.String:
		v = reflect.ValueOf(maskPasswords(v.String()))
	}
	n := &yaml.Node{}
	if err := n.Encode(v.Interface()); err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	if t.Kind() == reflect.Slice && v.IsNil() {
		n = &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	}
	return n, nil
}

var passwordPatterns = []*regexp.Regexp{
	// URL user info: postgres://user:secret@host
	regexp.MustCompile(`(://[^:/?#@\s]*:)([^@\s]*)(@)`),
	// keyword/value: password=secret, password = 'se cret'
	regexp.MustCompile(`(?i)((?:^|\s)\w*password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s']\S*|'[^\s]*)()`),
	// URL query parameter: ?password=secret&...
	regexp.MustCompile(`(?i)([?&]\w*password=)([^&#\s]*)()`),
}

// maskPasswords replaces the password inside connection strings in s (URL
// or keyword/value form) with "<redacted>", leaving everything else.
func maskPasswords(s string) string {
	for _, re := range passwordPatterns {
		s = re.ReplaceAllString(s, "${1}"+redacted+"${3}")
	}
	return s
}
