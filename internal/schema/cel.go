package schema

import (
	"regexp"
	"strconv"
	"strings"
)

// compiledRule is an x-kubernetes-validations rule of a form this package evaluates. CEL itself is
// not embedded: the forms the supported KubeVirt releases use are recognised (self.startsWith('x'),
// !self.contains('x'), self == true|false), and a rule of another form is left to the API server.
type compiledRule struct {
	rule, message string
	fn            func(v any) (string, bool)
}

var (
	celStartsWith = regexp.MustCompile(`^self\.startsWith\('([^'\\]*)'\)$`)
	celNotContain = regexp.MustCompile(`^!self\.contains\('([^'\\]*)'\)$`)
	celEqualsBool = regexp.MustCompile(`^self == (true|false)$`)
)

func compileRules(rules []Rule) []compiledRule {
	var out []compiledRule
	for _, r := range rules {
		msg := r.Message
		if msg == "" {
			msg = "failed rule: " + r.Rule
		}
		c := compiledRule{rule: strconv.Quote(r.Rule), message: msg}
		switch {
		case celStartsWith.MatchString(r.Rule):
			prefix := celStartsWith.FindStringSubmatch(r.Rule)[1]
			c.fn = func(v any) (string, bool) {
				s, ok := v.(string)
				return msg, ok && (len(s) < len(prefix) || s[:len(prefix)] != prefix)
			}
		case celNotContain.MatchString(r.Rule):
			sub := celNotContain.FindStringSubmatch(r.Rule)[1]
			c.fn = func(v any) (string, bool) {
				s, ok := v.(string)
				return msg, ok && strings.Contains(s, sub)
			}
		case celEqualsBool.MatchString(r.Rule):
			want := celEqualsBool.FindStringSubmatch(r.Rule)[1] == "true"
			c.fn = func(v any) (string, bool) {
				b, ok := v.(bool)
				return msg, ok && b != want
			}
		default:
			continue
		}
		out = append(out, c)
	}
	return out
}

// check returns the rule's message and true when v breaks the rule.
func (r compiledRule) check(v any) (string, bool) { return r.fn(v) }
