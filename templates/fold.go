package templates

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"strconv"
	"strings"
	"text/template/parse"
)

// This file specialises a parsed page for one language and brand so that
// rendering it costs little more than copying bytes.
//
// Executing a template pays, for every {{action}}, a reflective map or
// field lookup and one reflective call per escaper that html/template adds
// to the action. Most actions of a page print a catalog message, which is
// the same for every request in a language. So, per language and brand:
//
//  1. substitute replaces each .T.key and .Lang (and $.T.key, $.Lang)
//     whose dot is known to be the Page with the message text or the
//     language as a string constant, and so the .Brand fields;
//  2. html/template escapes the page as usual (its contextual escaping is
//     untouched: the constant gets the escapers its context calls for);
//  3. foldConstants executes each action that now consists of a constant
//     and escapers only (pure functions) once and replaces it with the text
//     it printed, and replaces each {{if}} on constants (such as
//     {{if eq .Lang "ko"}}) with the branch it takes.
//
// The rendered bytes are the same as executing the unspecialised page with
// .T set to the language's messages; the golden tests pin that.

// rootName is the template every page is executed as.
const rootName = "layout"

// specialise substitutes the Page fields consts (see pageConstants) into t
// (parsed, not yet executed), escapes it and folds its constant actions. t
// must not be used elsewhere.
func specialise(t *template.Template, consts map[string]string) error {
	trees := map[string]*parse.Tree{}
	for _, x := range t.Templates() {
		if x.Tree != nil {
			trees[x.Name()] = x.Tree
		}
	}
	substitute(trees, consts)
	// Executing escapes the page (and every template it calls) in place.
	// The nil data makes fields print empty; only an escaping error
	// matters here, as it would at every later render.
	if err := t.ExecuteTemplate(io.Discard, rootName, nil); err != nil {
		var escErr *template.Error
		if errors.As(err, &escErr) {
			return err
		}
	}
	return foldConstants(t, trees)
}

// substitute replaces Page field chains such as .T.key, .Lang, $.T.key
// with their constant text wherever the dot (or $) is certainly the Page:
// in the root template and in templates only ever called with
// {{template "name" .}} from such places, outside range and with blocks
// (where the dot is something else).
func substitute(trees map[string]*parse.Tree, consts map[string]string) {
	pageDot := pageDotTemplates(trees)
	for name, tr := range trees {
		if pageDot[name] {
			walkDot(tr.Root, true, true, func(*parse.TemplateNode, bool) {}, consts)
		}
	}
}

// pageDotTemplates returns the templates that always run with the Page as
// dot: the root, and templates whose every call passes the Page.
func pageDotTemplates(trees map[string]*parse.Tree) map[string]bool {
	page := map[string]bool{rootName: true}
	for range len(trees) + 1 {
		calls := map[string][]bool{}
		for name, tr := range trees {
			walkDot(tr.Root, page[name], page[name], func(n *parse.TemplateNode, pageArg bool) {
				calls[n.Name] = append(calls[n.Name], pageArg)
			}, nil)
		}
		next := map[string]bool{}
		if _, called := calls[rootName]; !called {
			next[rootName] = true
		}
		for name, args := range calls {
			if name == rootName {
				continue
			}
			all := true
			for _, a := range args {
				all = all && a
			}
			next[name] = all
		}
		same := len(next) == len(page)
		for k, v := range next {
			same = same && page[k] == v
		}
		page = next
		if same {
			break
		}
	}
	return page
}

// walkDot visits the nodes of list, knowing whether dot and $ are the Page.
// It reports every {{template}} call (and whether it passes the Page) to
// call, and, when consts is not nil, substitutes the constants.
func walkDot(list *parse.ListNode, dot, dollar bool, call func(*parse.TemplateNode, bool), consts map[string]string) {
	if list == nil {
		return
	}
	for _, n := range list.Nodes {
		switch n := n.(type) {
		case *parse.ActionNode:
			substPipe(n.Pipe, dot, dollar, consts)
		case *parse.IfNode:
			substPipe(n.Pipe, dot, dollar, consts)
			walkDot(n.List, dot, dollar, call, consts)
			walkDot(n.ElseList, dot, dollar, call, consts)
		case *parse.RangeNode:
			substPipe(n.Pipe, dot, dollar, consts)
			walkDot(n.List, false, dollar, call, consts)
			walkDot(n.ElseList, dot, dollar, call, consts)
		case *parse.WithNode:
			substPipe(n.Pipe, dot, dollar, consts)
			walkDot(n.List, false, dollar, call, consts)
			walkDot(n.ElseList, dot, dollar, call, consts)
		case *parse.TemplateNode:
			substPipe(n.Pipe, dot, dollar, consts)
			call(n, passesPage(n.Pipe, dot, dollar))
		}
	}
}

// passesPage reports whether a {{template}} argument is the Page.
func passesPage(p *parse.PipeNode, dot, dollar bool) bool {
	if p == nil || len(p.Decl) != 0 || len(p.Cmds) != 1 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch a := p.Cmds[0].Args[0].(type) {
	case *parse.DotNode:
		return dot
	case *parse.VariableNode:
		return dollar && len(a.Ident) == 1 && a.Ident[0] == "$"
	}
	return false
}

func substPipe(p *parse.PipeNode, dot, dollar bool, consts map[string]string) {
	if p == nil || consts == nil {
		return
	}
	for _, c := range p.Cmds {
		for i, a := range c.Args {
			switch a := a.(type) {
			case *parse.FieldNode:
				if dot {
					c.Args[i] = pageConstant(a.Ident, a, consts)
				}
			case *parse.VariableNode:
				if dollar && len(a.Ident) > 1 && a.Ident[0] == "$" {
					c.Args[i] = pageConstant(a.Ident[1:], a, consts)
				}
			case *parse.PipeNode:
				substPipe(a, dot, dollar, consts)
			}
		}
	}
}

// pageConstant is the string constant for the Page field chain fields
// when consts has one, else orig (also for a message key the catalog lacks,
// left to fail or print as it would at run time).
func pageConstant(fields []string, orig parse.Node, consts map[string]string) parse.Node {
	v, ok := consts[strings.Join(fields, ".")]
	if !ok {
		return orig
	}
	return &parse.StringNode{NodeType: parse.NodeString, Pos: orig.Position(), Quoted: strconv.Quote(v), Text: v}
}

// pageConstants are the Page fields a specialised page takes as given, by
// field chain: "Lang", "T.<key>" for every message and, with a brand,
// "Brand.<field>".
func pageConstants(lang string, msgs map[string]string, brand *Brand) map[string]string {
	c := make(map[string]string, len(msgs)+4)
	c["Lang"] = lang
	for k, v := range msgs {
		c["T."+k] = v
	}
	if brand != nil {
		c["Brand.CompanyName"] = brand.CompanyName
		c["Brand.LogoURL"] = brand.LogoURL
		c["Brand.PrimaryColor"] = brand.PrimaryColor
	}
	return c
}

// foldConstants replaces every escaped action whose value is a constant
// with the text it prints, and merges adjacent text.
func foldConstants(t *template.Template, trees map[string]*parse.Tree) error {
	root := trees[rootName]
	var fold func(list *parse.ListNode) error
	fold = func(list *parse.ListNode) error {
		if list == nil {
			return nil
		}
		var out []parse.Node
		for _, n := range list.Nodes {
			switch x := n.(type) {
			case *parse.ActionNode:
				if isConstant(x.Pipe) {
					text, err := execNode(t, root, x)
					if err != nil {
						return err
					}
					n = &parse.TextNode{NodeType: parse.NodeText, Pos: x.Pos, Text: text}
				}
			case *parse.IfNode:
				if isConstantCond(x.Pipe) {
					taken, err := evalCond(t, root, x.Pipe)
					if err != nil {
						return err
					}
					branch := x.ElseList
					if taken {
						branch = x.List
					}
					if err := fold(branch); err != nil {
						return err
					}
					if branch != nil {
						out = append(out, branch.Nodes...)
					}
					continue
				}
				if err := foldBranch(&x.BranchNode, fold); err != nil {
					return err
				}
			case *parse.RangeNode:
				if err := foldBranch(&x.BranchNode, fold); err != nil {
					return err
				}
			case *parse.WithNode:
				if err := foldBranch(&x.BranchNode, fold); err != nil {
					return err
				}
			}
			out = append(out, n)
		}
		list.Nodes = mergeText(out)
		return nil
	}
	for name, tr := range trees {
		if err := fold(tr.Root); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// mergeText merges each run of adjacent text nodes of a folded list into
// one, its text sized to fit: a specialised page keeps it as long as the
// Set lives.
func mergeText(nodes []parse.Node) []parse.Node {
	out := make([]parse.Node, 0, len(nodes))
	for i := 0; i < len(nodes); {
		first, ok := nodes[i].(*parse.TextNode)
		if !ok {
			out = append(out, nodes[i])
			i++
			continue
		}
		j, size := i, 0
		for ; j < len(nodes); j++ {
			tn, ok := nodes[j].(*parse.TextNode)
			if !ok {
				break
			}
			size += len(tn.Text)
		}
		if j == i+1 && cap(first.Text) == len(first.Text) {
			out = append(out, first)
		} else {
			text := make([]byte, 0, size)
			for _, n := range nodes[i:j] {
				text = append(text, n.(*parse.TextNode).Text...)
			}
			out = append(out, &parse.TextNode{NodeType: parse.NodeText, Pos: first.Pos, Text: text})
		}
		i = j
	}
	return out
}

func foldBranch(b *parse.BranchNode, fold func(*parse.ListNode) error) error {
	if err := fold(b.List); err != nil {
		return err
	}
	return fold(b.ElseList)
}

// isConstant reports whether an escaped action prints a constant: a
// literal piped through html/template's escapers, which are pure functions.
func isConstant(p *parse.PipeNode) bool {
	if p == nil || len(p.Decl) != 0 || len(p.Cmds) < 2 || len(p.Cmds[0].Args) != 1 {
		return false
	}
	switch p.Cmds[0].Args[0].(type) {
	case *parse.StringNode, *parse.NumberNode, *parse.BoolNode:
	default:
		return false
	}
	for _, c := range p.Cmds[1:] {
		if len(c.Args) != 1 {
			return false
		}
		id, ok := c.Args[0].(*parse.IdentifierNode)
		if !ok || !(strings.HasPrefix(id.Ident, "_html_template_") || id.Ident == "_eval_args_") {
			return false
		}
	}
	return true
}

// pureBuiltins are text/template's built-in functions that only compare
// their arguments (a page cannot redefine them: funcs has none of them).
var pureBuiltins = map[string]bool{"eq": true, "ne": true, "not": true, "and": true, "or": true}

// isConstantCond reports whether an {{if}} condition is a literal, or one
// pure built-in applied to literals.
func isConstantCond(p *parse.PipeNode) bool {
	if p == nil || len(p.Decl) != 0 || len(p.Cmds) != 1 {
		return false
	}
	args := p.Cmds[0].Args
	if id, ok := args[0].(*parse.IdentifierNode); ok && pureBuiltins[id.Ident] && len(args) > 1 {
		args = args[1:]
	}
	for _, a := range args {
		switch a.(type) {
		case *parse.StringNode, *parse.NumberNode, *parse.BoolNode:
		default:
			return false
		}
	}
	return true
}

// evalCond evaluates a constant {{if}} condition by executing it.
func evalCond(t *template.Template, root *parse.Tree, p *parse.PipeNode) (bool, error) {
	yes := &parse.ListNode{NodeType: parse.NodeList, Nodes: []parse.Node{&parse.TextNode{NodeType: parse.NodeText, Text: []byte("1")}}}
	probe := &parse.IfNode{BranchNode: parse.BranchNode{NodeType: parse.NodeIf, Pos: p.Pos, Line: p.Line, Pipe: p, List: yes}}
	out, err := execNode(t, root, probe)
	return string(out) == "1", err
}

// execNode prints one node (an action, a probe {{if}}) by executing it,
// alone, as the root template's body (the root is restored before
// returning). Only the goroutine specialising t sees it until it is done.
func execNode(t *template.Template, root *parse.Tree, n parse.Node) ([]byte, error) {
	body := root.Root
	defer func() { root.Root = body }()
	root.Root = &parse.ListNode{NodeType: parse.NodeList, Pos: n.Position(), Nodes: []parse.Node{n}}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, rootName, nil); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
