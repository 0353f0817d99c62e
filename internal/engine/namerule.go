package engine

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"unicode/utf8"

	"cuelang.org/go/cue/ast"
	"cuelang.org/go/cue/literal"
	"cuelang.org/go/cue/parser"
	"cuelang.org/go/cue/token"

	vmocue "github.com/vmo-cue/vmo-cue"
)

// NameRule is schemas.#Name (schemas/stack.cue), the one rule for Kubernetes names in the model:
// `=~"<pattern>" & strings.MaxRunes(<max>)`. Go code that checks a name without evaluating CUE (the
// fast path) reads it here, from the embedded module's syntax, so the rule is written once, in CUE.
type NameRule struct {
	Pattern  *regexp.Regexp
	MaxRunes int
}

// Match reports whether s satisfies #Name.
func (r *NameRule) Match(s string) bool {
	return r.Pattern.MatchString(s) && utf8.RuneCountInString(s) <= r.MaxRunes
}

var (
	nameRuleOnce sync.Once
	nameRule     *NameRule
	nameRuleErr  error
)

// LoadNameRule reads #Name from the embedded schemas once per process (a parse of one file, no
// evaluation). It fails if #Name is no longer of the form above: then a caller must evaluate CUE.
func LoadNameRule() (*NameRule, error) {
	nameRuleOnce.Do(func() {
		data, err := vmocue.Module.ReadFile("schemas/stack.cue")
		if err != nil {
			nameRuleErr = err
			return
		}
		nameRule, nameRuleErr = parseNameRule(data)
	})
	return nameRule, nameRuleErr
}

// parseNameRule finds `#Name: =~"re" & strings.MaxRunes(n)` among the file's declarations.
func parseNameRule(src []byte) (*NameRule, error) {
	f, err := parser.ParseFile("schemas/stack.cue", src)
	if err != nil {
		return nil, err
	}
	for _, d := range f.Decls {
		fd, ok := d.(*ast.Field)
		if !ok {
			continue
		}
		if id, ok := fd.Label.(*ast.Ident); !ok || id.Name != "#Name" {
			continue
		}
		rule := &NameRule{}
		bin, ok := fd.Value.(*ast.BinaryExpr)
		if !ok || bin.Op != token.AND {
			return nil, fmt.Errorf("schemas/stack.cue: #Name is not `=~\"...\" & strings.MaxRunes(n)`")
		}
		for _, x := range []ast.Expr{bin.X, bin.Y} {
			switch x := x.(type) {
			case *ast.UnaryExpr:
				lit, ok := x.X.(*ast.BasicLit)
				if x.Op != token.MAT || !ok || lit.Kind != token.STRING {
					return nil, fmt.Errorf("schemas/stack.cue: #Name: unexpected %v", x.Op)
				}
				s, err := literal.Unquote(lit.Value)
				if err != nil {
					return nil, fmt.Errorf("schemas/stack.cue: #Name: %w", err)
				}
				if rule.Pattern, err = regexp.Compile(s); err != nil {
					return nil, fmt.Errorf("schemas/stack.cue: #Name: %w", err)
				}
			case *ast.CallExpr:
				sel, ok := x.Fun.(*ast.SelectorExpr)
				if !ok || len(x.Args) != 1 {
					return nil, fmt.Errorf("schemas/stack.cue: #Name: unexpected call")
				}
				pkg, _ := sel.X.(*ast.Ident)
				fn, _ := sel.Sel.(*ast.Ident)
				lit, _ := x.Args[0].(*ast.BasicLit)
				if pkg == nil || fn == nil || lit == nil || pkg.Name != "strings" || fn.Name != "MaxRunes" {
					return nil, fmt.Errorf("schemas/stack.cue: #Name: unexpected call")
				}
				n, err := strconv.Atoi(lit.Value)
				if err != nil {
					return nil, fmt.Errorf("schemas/stack.cue: #Name: strings.MaxRunes(%s): %w", lit.Value, err)
				}
				rule.MaxRunes = n
			default:
				return nil, fmt.Errorf("schemas/stack.cue: #Name is not `=~\"...\" & strings.MaxRunes(n)`")
			}
		}
		if rule.Pattern == nil || rule.MaxRunes == 0 {
			return nil, fmt.Errorf("schemas/stack.cue: #Name is not `=~\"...\" & strings.MaxRunes(n)`")
		}
		return rule, nil
	}
	return nil, fmt.Errorf("schemas/stack.cue: no #Name")
}
