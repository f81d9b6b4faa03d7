package config

import (
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ncp-sso/idp/idp"
)

var envRef = regexp.MustCompile(`^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$`)

// expandEnv replaces scalars that are exactly ${NAME} with $NAME's value.
func expandEnv(n *yaml.Node, path string, lookup func(string) (string, bool), sources map[string]string, ps *idp.Problems) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			p := path
			if n.Kind == yaml.SequenceNode {
				p = path + "[" + strconv.Itoa(i) + "]"
			}
			expandEnv(c, p, lookup, sources, ps)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			expandEnv(n.Content[i+1], join(path, n.Content[i].Value), lookup, sources, ps)
		}
	case yaml.ScalarNode:
		m := envRef.FindStringSubmatch(n.Value)
		if m == nil {
			return
		}
		v, ok := lookup(m[1])
		if !ok {
			ps.Addf(path, "refers to environment variable %s, which is not set: export it or write the value", m[1])
			return
		}
		n.Value = v
		sources[path] = "env:" + m[1]
		// Force a string: an env value "yes" or "0123" must not change type.
		n.Tag = "!!str"
		n.Style = yaml.DoubleQuotedStyle
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var durationType = reflect.TypeOf(time.Duration(0))

// yamlFields maps a struct's YAML keys to their field types, following
// inline structs.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range yamlFields(ft) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// checkKeys reports every key in n that t does not know.
func checkKeys(n *yaml.Node, t reflect.Type, path string, ps *idp.Problems) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		for _, c := range n.Content {
			checkKeys(c, t, path, ps)
		}
		return
	}
	if n.Kind == yaml.AliasNode {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if t == reflect.TypeOf(time.Time{}) {
			return
		}
		if n.Kind != yaml.MappingNode {
			if !(n.Kind == yaml.ScalarNode && n.Tag == "!!null") {
				ps.Addf(orRoot(path), "must be a section of keys (a YAML mapping), not %s", kindName(n))
			}
			return
		}
		fields := yamlFields(t)
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			kp := join(path, k)
			if seen[k] {
				ps.Addf(kp, "is set twice in the same section: keep one")
			}
			seen[k] = true
			ft, ok := fields[k]
			if !ok {
				msg := "unknown key"
				if s := closest(k, fields); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				} else {
					msg += "; see idp.example.yaml for the keys of this section"
				}
				ps.Addf(kp, "%s", msg)
				continue
			}
			checkKeys(n.Content[i+1], ft, kp, ps)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return // the decoder reports the type error
		}
		for i, c := range n.Content {
			checkKeys(c, t.Elem(), path+"["+strconv.Itoa(i)+"]", ps)
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			checkKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value), ps)
		}
	}
}

func orRoot(p string) string {
	if p == "" {
		return "(top level)"
	}
	return p
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("the value %q", n.Value)
	}
	return "something else"
}

// closest suggests a known key within a small edit distance.
func closest(k string, fields map[string]reflect.Type) string {
	best, bestD := "", 3
	for name := range fields {
		if d := editDistance(k, name); d < bestD || (d == bestD && name < best) {
			best, bestD = name, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// resolveFiles reads every non-empty `xxx_file` string field into its
// sibling `xxx` string field, recursively.
func resolveFiles(v reflect.Value, path string, sources map[string]string, ps *idp.Problems) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		byKey := map[string]reflect.Value{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if strings.Contains(opts, "inline") {
				resolveFiles(v.Field(i), path, sources, ps)
				continue
			}
			byKey[name] = v.Field(i)
		}
		for key, fv := range byKey {
			if fv.Kind() == reflect.String && strings.HasSuffix(key, "_file") {
				target, ok := byKey[strings.TrimSuffix(key, "_file")]
				if !ok || target.Kind() != reflect.String || fv.String() == "" {
					continue
				}
				base := strings.TrimSuffix(key, "_file")
				if target.String() != "" {
					ps.Addf(join(path, key), "set either %s or %s, not both", base, key)
					continue
				}
				b, err := os.ReadFile(fv.String())
				if err != nil {
					ps.Addf(join(path, key), "cannot read the secret file: %v", err)
					continue
				}
				target.SetString(strings.TrimRight(string(b), "\r\n"))
				sources[join(path, base)] = "file:" + fv.String()
				continue
			}
			resolveFiles(fv, join(path, key), sources, ps)
		}
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			resolveFiles(v.Index(i), path+"["+strconv.Itoa(i)+"]", sources, ps)
		}
	}
}
