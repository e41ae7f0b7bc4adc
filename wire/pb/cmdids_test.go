package pb

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

// TestCmdIDs checks cmdids.go against Commands(): every command has exactly
// one typed uint16 constant, named by CmdConstName, with its id, and the file
// declares nothing else. The compiled constants are checked too, for a few.
func TestCmdIDs(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "cmdids.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	consts := map[string]uint64{}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			t.Fatalf("cmdids.go declares something other than constants: %T", d)
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			if typ, ok := vs.Type.(*ast.Ident); !ok || typ.Name != "uint16" || len(vs.Names) != 1 || len(vs.Values) != 1 {
				t.Fatalf("constant %v is not one typed uint16", vs.Names)
			}
			lit, ok := vs.Values[0].(*ast.BasicLit)
			if !ok {
				t.Fatalf("constant %s is not a literal", vs.Names[0].Name)
			}
			v, err := strconv.ParseUint(lit.Value, 0, 16)
			if err != nil {
				t.Fatalf("constant %s: %v", vs.Names[0].Name, err)
			}
			name := vs.Names[0].Name
			if _, dup := consts[name]; dup {
				t.Fatalf("constant %s declared twice", name)
			}
			consts[name] = v
		}
	}
	cmds := Commands()
	if len(cmds) != 95 || len(consts) != len(cmds) {
		t.Fatalf("%d constants for %d commands (want 95); go run ./wire/pb/internal/gencmdids rewrites cmdids.go", len(consts), len(cmds))
	}
	for _, c := range cmds {
		name, err := CmdConstName(c.Name)
		if err != nil {
			t.Fatal(err)
		}
		if v, ok := consts[name]; !ok || v != uint64(c.ID) {
			t.Errorf("%s (0x%04x): constant %s = %#04x, present %v", c.Name, c.ID, name, v, ok)
		}
	}
	compiled := []struct {
		name      string
		got, want uint16
	}{
		{"CmdMsgData", CmdMsgData, uint16(MessageCmdID_CID_MSG_DATA)},
		{"CmdOtherHeartbeat", CmdOtherHeartbeat, uint16(OtherCmdID_CID_OTHER_HEARTBEAT)},
		{"CmdLoginReqUserlogin", CmdLoginReqUserlogin, uint16(LoginCmdID_CID_LOGIN_REQ_USERLOGIN)},
	}
	for _, c := range compiled {
		if c.got != c.want {
			t.Errorf("%s = %#04x, want %#04x", c.name, c.got, c.want)
		}
	}
}

func TestCmdConstName(t *testing.T) {
	tests := []struct {
		name, enum, want string
		bad              bool
	}{
		{name: "two words", enum: "CID_MSG_DATA", want: "CmdMsgData"},
		{name: "one word after the group", enum: "CID_OTHER_HEARTBEAT", want: "CmdOtherHeartbeat"},
		{name: "run-together word", enum: "CID_LOGIN_REQ_MSGSERVER", want: "CmdLoginReqMsgserver"},
		{name: "no prefix", enum: "MSG_DATA", bad: true},
		{name: "prefix only", enum: "CID_", bad: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CmdConstName(tc.enum)
			if (err != nil) != tc.bad || got != tc.want {
				t.Fatalf("CmdConstName(%q) = %q, %v", tc.enum, got, err)
			}
		})
	}
}
