package docs_test

// These tests keep openapi.yaml and asyncapi.yaml honest: a route mounted or
// a message type added without its description fails here, and so does a
// description of something the server does not have. Whether the files are
// valid OpenAPI and AsyncAPI is the validators' job (tools/apidocs).

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/liveserver/liveserver/protocol"
	"github.com/liveserver/liveserver/server"
)

// TestOpenAPIDescribesEveryRoute: every route the server mounts is an
// operation of openapi.yaml, and every operation there is a mounted route.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	srv, err := server.New(server.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	routes := srv.Routes()
	if len(routes) == 0 {
		t.Fatal("server.Routes() lists no route")
	}

	d := newDocs(t)
	paths, ok := d.get("openapi.yaml")["paths"].(map[string]any)
	if !ok {
		t.Fatal("openapi.yaml has no paths")
	}
	documented := map[string]bool{} // "METHOD /path"
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for method := range ops {
			if httpMethods[method] {
				documented[strings.ToUpper(method)+" "+path] = true
			}
		}
	}

	// A pattern without a method ("/") serves every method: it must be
	// described by at least one operation of its path.
	mounted := map[string]bool{}
	anyMethod := map[string]bool{}
	for _, p := range routes {
		method, path, hasMethod := strings.Cut(p, " ")
		if !hasMethod {
			path = method
			anyMethod[path] = true
			if !slices.ContainsFunc(keys(documented), func(op string) bool { return strings.HasSuffix(op, " "+path) }) {
				t.Errorf("the server mounts %q (any method) but docs/openapi.yaml has no operation on path %q", p, path)
			}
			continue
		}
		mounted[p] = true
		if !documented[p] {
			t.Errorf("the server mounts %q but docs/openapi.yaml does not describe it: add paths.%q.%s", p, path, strings.ToLower(method))
		}
	}
	for _, op := range keys(documented) {
		_, path, _ := strings.Cut(op, " ")
		if !mounted[op] && !anyMethod[path] {
			t.Errorf("docs/openapi.yaml describes %q but the server does not mount it (server.Routes: %v)", op, routes)
		}
	}
}

var httpMethods = map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}

// TestAsyncAPIDescribesEveryMessage: the client messages of asyncapi.yaml
// are exactly protocol.ClientTypes, its server messages exactly
// protocol.ServerTypes, and each message's name is its payload's type.
func TestAsyncAPIDescribesEveryMessage(t *testing.T) {
	d := newDocs(t)
	client, server := d.asyncTypes(t)
	sameSet(t, "client message types", "protocol.ClientTypes()", protocol.ClientTypes(), "docs/asyncapi.yaml (operation receiveClientMessages)", client)
	sameSet(t, "server message types", "protocol.ServerTypes()", protocol.ServerTypes(), "docs/asyncapi.yaml (operation sendServerMessages)", server)
}

// TestClientTypesAreTheDecodersTypes: protocol.ClientTypes lists exactly the
// types protocol.DecodeClient accepts, checked against every type name the
// code and the descriptions know.
func TestClientTypesAreTheDecodersTypes(t *testing.T) {
	const unknown = "unknown message type"
	// If the decoder words its refusal differently, this test must be
	// taught the new wording rather than pass without checking anything.
	if _, _, err := protocol.DecodeClient([]byte(`{"type":"no_such_type","id":"x"}`)); err == nil || !strings.Contains(err.Error(), unknown) {
		t.Fatalf("DecodeClient of an unknown type: %v; want an error saying %q", err, unknown)
	}
	accepts := func(typ string) bool {
		raw, _ := json.Marshal(map[string]string{"type": typ, "id": "x"})
		_, _, err := protocol.DecodeClient(raw)
		return err == nil || !strings.Contains(err.Error(), unknown)
	}
	candidates := map[string]bool{}
	for _, typ := range emittedTypes(t) {
		candidates[typ] = true
	}
	for _, typ := range protocolCaseLiterals(t) {
		candidates[typ] = true
	}
	d := newDocs(t)
	client, server := d.asyncTypes(t)
	for _, typ := range append(append(client, server...), protocol.ServerTypes()...) {
		candidates[typ] = true
	}
	clientTypes := protocol.ClientTypes()
	for _, typ := range clientTypes {
		if !accepts(typ) {
			t.Errorf("protocol.ClientTypes lists %q but DecodeClient refuses it as an unknown type", typ)
		}
	}
	for _, typ := range keys(candidates) {
		if !slices.Contains(clientTypes, typ) && accepts(typ) {
			t.Errorf("DecodeClient accepts type %q but protocol.ClientTypes does not list it (add it there and to docs/asyncapi.yaml)", typ)
		}
	}
}

// TestAsyncAPIDescribesEveryEmittedType: every message type the server's
// code declares or builds (Type* constants, "type" fields and keys, and the
// types of the events and volatile messages its Lua scripts publish), in
// every package of the liveserver binary, is in protocol's lists and so in
// asyncapi.yaml.
func TestAsyncAPIDescribesEveryEmittedType(t *testing.T) {
	found := emittedTypes(t)
	t.Logf("message types in the server's code: %v", found)
	// The scan must at least see the types of protocol's constants and of
	// the Redis scripts, or it is not looking where it should.
	for _, want := range []string{protocol.TypeSnapshot, protocol.TypeStock, protocol.TypeJoin, "catalog", "purchase"} {
		if !slices.Contains(found, want) {
			t.Fatalf("the source scan found %v, without %q: it no longer sees the server's code", found, want)
		}
	}
	d := newDocs(t)
	client, server := d.asyncTypes(t)
	for _, typ := range found {
		inLists := slices.Contains(protocol.ClientTypes(), typ) || slices.Contains(protocol.ServerTypes(), typ)
		inDocs := slices.Contains(client, typ) || slices.Contains(server, typ)
		if !inLists {
			t.Errorf("the server's code declares or sends message type %q, which is in neither protocol.ClientTypes nor protocol.ServerTypes", typ)
		}
		if !inDocs {
			t.Errorf("the server's code declares or sends message type %q, which docs/asyncapi.yaml does not describe", typ)
		}
	}
}

// docs loads the YAML files of this directory and follows $refs between
// them.
type docs struct {
	t     *testing.T
	files map[string]map[string]any
}

func newDocs(t *testing.T) *docs {
	return &docs{t: t, files: map[string]map[string]any{}}
}

func (d *docs) get(name string) map[string]any {
	d.t.Helper()
	if m, ok := d.files[name]; ok {
		return m
	}
	b, err := os.ReadFile(name)
	if err != nil {
		d.t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		d.t.Fatalf("%s: %v", name, err)
	}
	d.files[name] = m
	return m
}

// deref follows v's $ref chain, from the document file; it returns the
// node and the file it is in.
func (d *docs) deref(file string, v any) (string, any) {
	d.t.Helper()
	for range 32 {
		m, ok := v.(map[string]any)
		if !ok {
			return file, v
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return file, v
		}
		target, pointer, _ := strings.Cut(ref, "#")
		if target != "" {
			file = filepath.Clean(filepath.Join(filepath.Dir(file), target))
		}
		v = d.get(file)
		for _, seg := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
			if seg == "" {
				continue
			}
			seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
			m, ok := v.(map[string]any)
			if !ok || m[seg] == nil {
				d.t.Fatalf("%s: $ref %q does not resolve", file, ref)
			}
			v = m[seg]
		}
	}
	d.t.Fatalf("%s: $ref chain too long", file)
	return "", nil
}

// payloadTypes returns the "type" constants a schema allows, through
// $refs and allOf, oneOf, anyOf.
func (d *docs) payloadTypes(file string, schema any) []string {
	file, schema = d.deref(file, schema)
	m, _ := schema.(map[string]any)
	var out []string
	if props, ok := m["properties"].(map[string]any); ok && props["type"] != nil {
		_, typ := d.deref(file, props["type"])
		if c, ok := typ.(map[string]any)["const"].(string); ok {
			out = append(out, c)
		}
	}
	for _, k := range []string{"allOf", "oneOf", "anyOf"} {
		list, _ := m[k].([]any)
		for _, sub := range list {
			for _, c := range d.payloadTypes(file, sub) {
				if !slices.Contains(out, c) {
					out = append(out, c)
				}
			}
		}
	}
	return out
}

// asyncTypes returns the types of the client messages (operations the
// server receives) and of the server messages (operations it sends).
func (d *docs) asyncTypes(t *testing.T) (client, server []string) {
	t.Helper()
	const file = "asyncapi.yaml"
	doc := d.get(file)
	ops, _ := doc["operations"].(map[string]any)
	if len(ops) == 0 {
		t.Fatal("asyncapi.yaml has no operations")
	}
	inOperation := map[string]bool{}
	for name, op := range ops {
		_, opv := d.deref(file, op)
		o, _ := opv.(map[string]any)
		var dst *[]string
		switch o["action"] {
		case "receive":
			dst = &client
		case "send":
			dst = &server
		default:
			t.Fatalf("asyncapi.yaml: operation %s has action %v", name, o["action"])
		}
		msgs, _ := o["messages"].([]any)
		for _, ref := range msgs {
			if r, ok := ref.(map[string]any)["$ref"].(string); ok {
				inOperation[r] = true
			}
			mfile, mv := d.deref(file, ref)
			msg, _ := mv.(map[string]any)
			types := d.payloadTypes(mfile, msg["payload"])
			if len(types) != 1 {
				t.Fatalf("asyncapi.yaml: a message of operation %s (%v) has payload types %v; want exactly one type constant", name, ref, types)
			}
			if msg["name"] != types[0] {
				t.Errorf("asyncapi.yaml: the message of type %q is named %v; name it after its type", types[0], msg["name"])
			}
			if slices.Contains(*dst, types[0]) {
				t.Errorf("asyncapi.yaml: type %q appears twice in operation %s", types[0], name)
			}
			*dst = append(*dst, types[0])
		}
	}
	// A message on the channel that no operation lists describes nothing.
	channels, _ := doc["channels"].(map[string]any)
	for cname, ch := range channels {
		_, chv := d.deref(file, ch)
		msgs, _ := chv.(map[string]any)["messages"].(map[string]any)
		for key := range msgs {
			ref := "#/channels/" + cname + "/messages/" + key
			if !inOperation[ref] {
				t.Errorf("asyncapi.yaml: channel message %s is in no operation", ref)
			}
		}
	}
	if len(client) == 0 || len(server) == 0 {
		t.Fatalf("asyncapi.yaml: client types %v, server types %v; want both", client, server)
	}
	return client, server
}

// emittedTypes scans the source of every package of the liveserver binary
// (as `go list -deps` names them) for message type names: string constants
// named Type*, "type" keys of map literals, Type fields of struct literals,
// JSON text with a "type", and in the embedded Lua scripts the types given
// to emit and volatile.
func emittedTypes(t *testing.T) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goTool, "list", "-deps", "-json=ImportPath,Dir,GoFiles,EmbedFiles,Module", "github.com/liveserver/liveserver/cmd/liveserver")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	type pkg struct {
		ImportPath string
		Dir        string
		GoFiles    []string
		EmbedFiles []string
		Module     *struct{ Path string }
	}
	found := map[string]bool{}
	add := func(typ string) {
		if typeName.MatchString(typ) {
			found[typ] = true
		}
	}
	fset := token.NewFileSet()
	dec := json.NewDecoder(bytes.NewReader(out))
	packages := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		if p.Module == nil || p.Module.Path != "github.com/liveserver/liveserver" {
			continue
		}
		packages++
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			scanGo(f, add)
		}
		for _, name := range p.EmbedFiles {
			if !strings.HasSuffix(name, ".lua") {
				continue
			}
			b, err := os.ReadFile(filepath.Join(p.Dir, name))
			if err != nil {
				t.Fatal(err)
			}
			for _, re := range luaTypes {
				for _, m := range re.FindAllSubmatch(b, -1) {
					add(string(m[1]))
				}
			}
		}
	}
	if packages < 3 {
		t.Fatalf("go list found %d packages of the module in the binary", packages)
	}
	return keys(found)
}

// protocolCaseLiterals returns the string literals of the switch cases in
// package protocol's source, where the decoder would name a type it
// accepts without a constant.
func protocolCaseLiterals(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../protocol/*.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no source of package protocol: %v", err)
	}
	found := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if cc, ok := n.(*ast.CaseClause); ok {
				for _, e := range cc.List {
					if lit, ok := e.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if s, err := strconv.Unquote(lit.Value); err == nil && typeName.MatchString(s) {
							found[s] = true
						}
					}
				}
			}
			return true
		})
	}
	return keys(found)
}

var (
	typeName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	jsonType = regexp.MustCompile(`"type"\s*:\s*"([a-z][a-z0-9_]*)"`)
	luaTypes = []*regexp.Regexp{
		regexp.MustCompile(`\bemit\(\s*'([a-z][a-z0-9_]*)'`),
		regexp.MustCompile(`\bvolatile\([^,]+,\s*'([a-z][a-z0-9_]*)'`),
		jsonType,
	}
)

func scanGo(f *ast.File, add func(string)) {
	str := func(e ast.Expr) (string, bool) {
		lit, ok := e.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(lit.Value)
		return s, err == nil
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GenDecl:
			if n.Tok != token.CONST {
				return true
			}
			for _, spec := range n.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, name := range vs.Names {
					if i < len(vs.Values) && strings.HasPrefix(name.Name, "Type") && len(name.Name) > 4 && name.Name[4] >= 'A' && name.Name[4] <= 'Z' {
						if s, ok := str(vs.Values[i]); ok {
							add(s)
						}
					}
				}
			}
		case *ast.KeyValueExpr:
			v, ok := str(n.Value)
			if !ok {
				return true
			}
			if k, ok := str(n.Key); ok && k == "type" {
				add(v)
			}
			if k, ok := n.Key.(*ast.Ident); ok && k.Name == "Type" {
				add(v)
			}
		case *ast.BasicLit:
			if s, ok := str(n); ok {
				for _, m := range jsonType.FindAllStringSubmatch(s, -1) {
					add(m[1])
				}
			}
		}
		return true
	})
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sameSet(t *testing.T, what, aName string, a []string, bName string, b []string) {
	t.Helper()
	var missing, extra []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			missing = append(missing, x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			extra = append(extra, x)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s: %s has %v, which %s does not describe", what, aName, missing, bName)
	}
	if len(extra) > 0 {
		t.Errorf("%s: %s describes %v, which %s does not have", what, bName, extra, aName)
	}
	if len(a) != len(b) {
		t.Errorf("%s: %s has %d and %s %d (a duplicate?)", what, aName, len(a), bName, len(b))
	}
}

// TestErrorCodesAreDescribed: the error codes of asyncapi.yaml are exactly
// package protocol's Code* constants, and those of openapi.yaml exactly
// the ones an HTTP answer can carry: every code with a status of its own
// (protocol.HTTPStatus other than 500) and internal.
func TestErrorCodesAreDescribed(t *testing.T) {
	codes := protocolCodes(t)
	if !slices.Contains(codes, protocol.CodeInternal) || !slices.Contains(codes, protocol.CodeBadRequest) {
		t.Fatalf("the source scan found error codes %v: it no longer sees package protocol", codes)
	}
	var httpCodes []string
	for _, c := range codes {
		if c == protocol.CodeInternal || protocol.HTTPStatus(c) != 500 {
			httpCodes = append(httpCodes, c)
		}
	}
	d := newDocs(t)
	enum := func(file string) []string {
		_, sch := d.deref(file, map[string]any{"$ref": "#/components/schemas/ErrorCode"})
		var out []string
		for _, c := range listOf(mapOf(sch)["enum"]) {
			out = append(out, c.(string))
		}
		return out
	}
	sameSet(t, "WebSocket error codes", "package protocol", codes, "asyncapi.yaml (components.schemas.ErrorCode)", enum("asyncapi.yaml"))
	sameSet(t, "HTTP error codes", "package protocol (codes with an HTTP status)", httpCodes, "openapi.yaml (components.schemas.ErrorCode)", enum("openapi.yaml"))
}

// protocolCodes returns the values of package protocol's string constants
// named Code*.
func protocolCodes(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob("../protocol/*.go")
	found := map[string]bool{}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.HasPrefix(n.Name, "Code") || len(n.Name) < 5 || n.Name[4] < 'A' || n.Name[4] > 'Z' || i >= len(vs.Values) {
						continue
					}
					if lit, ok := vs.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
						if s, err := strconv.Unquote(lit.Value); err == nil {
							found[s] = true
						}
					}
				}
			}
		}
	}
	return keys(found)
}
