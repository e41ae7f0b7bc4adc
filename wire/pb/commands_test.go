package pb

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// protocolDoc opens /work/shared/PROTOCOL.md through the path CI uses: the
// clone's parent holds shared/ beside the clone.
func protocolDoc(t *testing.T) []string {
	t.Helper()
	path := filepath.Join("..", "..", "..", "shared", "PROTOCOL.md")
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("PROTOCOL.md is needed beside the clone (../shared relative to the repository root): %v", err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return lines
}

var cmdRow = regexp.MustCompile(`^\| 0x([0-9a-f]{4}) \| (CID_\w+) \| (\w+) \|`)

// TestCommandsMatchProtocol checks the command table against every command
// row of PROTOCOL.md §2: id, name, body type, and the service of the table it
// is listed under.
func TestCommandsMatchProtocol(t *testing.T) {
	lines := protocolDoc(t)
	services := map[string]uint16{
		"SID_LOGIN": 1, "SID_BUDDY_LIST": 2, "SID_MSG": 3, "SID_GROUP": 4,
		"SID_FILE": 5, "SID_SWITCH_SERVICE": 6, "SID_OTHER": 7,
	}
	var sid uint16
	seen := map[uint16]bool{}
	for _, l := range lines {
		if strings.HasPrefix(l, "## 3.") {
			break
		}
		if strings.HasPrefix(l, "### 2.") {
			sid = 0
			for name, v := range services {
				if strings.Contains(l, " "+name+" ") {
					sid = v
				}
			}
			continue
		}
		m := cmdRow.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		id64, _ := strconv.ParseUint(m[1], 16, 16)
		id := uint16(id64)
		seen[id] = true
		c, ok := Lookup(id)
		if !ok {
			t.Errorf("0x%04x %s: not in the command table", id, m[2])
			continue
		}
		if c.Name != m[2] || CommandName(id) != m[2] {
			t.Errorf("0x%04x: name %q, PROTOCOL.md says %q", id, c.Name, m[2])
		}
		if got := string(c.Body.Descriptor().Name()); got != m[3] {
			t.Errorf("0x%04x: body %s, PROTOCOL.md says %s", id, got, m[3])
		}
		if c.Service != sid || ServiceOf(id) != sid {
			t.Errorf("0x%04x: service %d, PROTOCOL.md lists it under %d", id, c.Service, sid)
		}
		if c.ID != id {
			t.Errorf("0x%04x: entry says id 0x%04x", id, c.ID)
		}
	}
	all := Commands()
	if len(seen) != len(all) || len(all) != 95 {
		t.Errorf("PROTOCOL.md lists %d commands, the table has %d (want 95)", len(seen), len(all))
	}
	for _, c := range all {
		if !seen[c.ID] {
			t.Errorf("table has 0x%04x %s, PROTOCOL.md does not", c.ID, c.Name)
		}
	}
}

func TestLookupUnknown(t *testing.T) {
	tests := []struct {
		name string
		cmd  uint16
	}{
		{"zero", 0},
		{"unassigned 0x070c", 0x070c},
		{"proto comment 0x0715", 0x0715},
		{"service id only", 0x0007},
		{"max", 0xffff},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, ok := Lookup(tt.cmd); ok {
				t.Fatalf("Lookup(0x%04x) found a command", tt.cmd)
			}
			if m, ok := NewBody(tt.cmd); ok || m != nil {
				t.Errorf("NewBody(0x%04x) = %v, %v", tt.cmd, m, ok)
			}
			if s := ServiceOf(tt.cmd); s != 0 {
				t.Errorf("ServiceOf(0x%04x) = %d", tt.cmd, s)
			}
			if n := CommandName(tt.cmd); n != "0x"+strconv.FormatUint(uint64(tt.cmd)|0x10000, 16)[1:] {
				t.Errorf("CommandName(0x%04x) = %q", tt.cmd, n)
			}
		})
	}
}

func TestNewBodyTypes(t *testing.T) {
	tests := []struct {
		name string
		cmd  uint16
		want string
	}{
		{"msg data", uint16(MessageCmdID_CID_MSG_DATA), "IM.Message.IMMsgData"},
		{"heartbeat", uint16(OtherCmdID_CID_OTHER_HEARTBEAT), "IM.Other.IMHeartBeat"},
		{"avatar changed 0x0212", 0x0212, "IM.Buddy.IMAvatarChangedNotify"},
		{"file transfer req 0x0731", 0x0731, "IM.Server.IMFileTransferReq"},
		{"file server ip rsp 0x0734", 0x0734, "IM.Server.IMFileServerIPRsp"},
		{"login", 0x0103, "IM.Login.IMLoginReq"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := NewBody(tt.cmd)
			if !ok {
				t.Fatalf("NewBody(0x%04x) unknown", tt.cmd)
			}
			if got := string(m.ProtoReflect().Descriptor().FullName()); got != tt.want {
				t.Errorf("NewBody(0x%04x) is %s, want %s", tt.cmd, got, tt.want)
			}
		})
	}
}

// TestNewBodyEveryCommand checks NewBody (with its fast path for the chat
// commands) against Lookup's body type for every known command.
func TestNewBodyEveryCommand(t *testing.T) {
	for _, c := range Commands() {
		m, ok := NewBody(c.ID)
		if !ok {
			t.Errorf("NewBody(%s) unknown", c.Name)
			continue
		}
		if got, want := m.ProtoReflect().Descriptor().FullName(), c.Body.Descriptor().FullName(); got != want {
			t.Errorf("NewBody(%s) is %s, want %s", c.Name, got, want)
		}
	}
}

var (
	msgHeading = regexp.MustCompile(`^#### (IM\.\w+)\.(\w+)\b`)
	fieldRow   = regexp.MustCompile(`^\| (\d+) \| (required|optional|repeated) \| (\w+) \| (\w+) \|`)
)

// TestSchemaMatchesProtocol checks every message of PROTOCOL.md §3 against the
// compiled descriptors: each field's number, label, type and name, and that
// no field is missing or extra.
func TestSchemaMatchesProtocol(t *testing.T) {
	lines := protocolDoc(t)
	type docField struct{ label, typ, name string }
	docs := map[string]map[int]docField{}
	var cur string
	inSection3 := false
	for _, l := range lines {
		if strings.HasPrefix(l, "## 3.") {
			inSection3 = true
		} else if strings.HasPrefix(l, "## 4.") {
			break
		}
		if !inSection3 {
			continue
		}
		if m := msgHeading.FindStringSubmatch(l); m != nil {
			cur = m[1] + "." + m[2]
			docs[cur] = map[int]docField{}
			continue
		}
		if m := fieldRow.FindStringSubmatch(l); m != nil && cur != "" {
			n, _ := strconv.Atoi(m[1])
			docs[cur][n] = docField{m[2], m[3], m[4]}
		}
	}
	if len(docs) != 110 {
		t.Errorf("parsed %d messages from PROTOCOL.md §3, want 110 (15 shared + 95 bodies)", len(docs))
	}
	files := []protoreflect.FileDescriptor{
		File_IM_BaseDefine_proto, File_IM_Login_proto, File_IM_Buddy_proto, File_IM_Message_proto,
		File_IM_Group_proto, File_IM_File_proto, File_IM_SwitchService_proto, File_IM_Other_proto,
		File_IM_Server_proto,
	}
	ours := map[string]protoreflect.MessageDescriptor{}
	for _, f := range files {
		if f.Syntax() != protoreflect.Proto2 {
			t.Errorf("%s: syntax %v, want proto2", f.Path(), f.Syntax())
		}
		for i := 0; i < f.Messages().Len(); i++ {
			md := f.Messages().Get(i)
			ours[string(md.FullName())] = md
		}
	}
	for name := range ours {
		if _, ok := docs[name]; !ok {
			t.Errorf("%s: in our .proto files, not in PROTOCOL.md", name)
		}
	}
	for name, fields := range docs {
		md, ok := ours[name]
		if !ok {
			t.Errorf("%s: in PROTOCOL.md, not in our .proto files", name)
			continue
		}
		if md.Fields().Len() != len(fields) {
			t.Errorf("%s: %d fields, PROTOCOL.md has %d", name, md.Fields().Len(), len(fields))
		}
		for n, want := range fields {
			fd := md.Fields().ByNumber(protoreflect.FieldNumber(n))
			if fd == nil {
				t.Errorf("%s: field %d (%s) missing", name, n, want.name)
				continue
			}
			typ := fd.Kind().String()
			switch fd.Kind() {
			case protoreflect.EnumKind:
				typ = string(fd.Enum().Name())
			case protoreflect.MessageKind:
				typ = string(fd.Message().Name())
			}
			got := docField{fd.Cardinality().String(), typ, string(fd.Name())}
			if got != want {
				t.Errorf("%s field %d: %+v, PROTOCOL.md says %+v", name, n, got, want)
			}
			if fd.Name() == "attach_data" && n != 20 {
				t.Errorf("%s: attach_data is field %d, want 20", name, n)
			}
		}
	}
}

func TestGroupCreateDefault(t *testing.T) {
	var m IMGroupCreateReq
	if got := m.GetGroupType(); got != GroupType_GROUP_TYPE_TMP {
		t.Fatalf("IMGroupCreateReq.group_type default = %v, want GROUP_TYPE_TMP", got)
	}
	fd := m.ProtoReflect().Descriptor().Fields().ByName("group_type")
	if !fd.HasDefault() || fd.Default().Enum() != protoreflect.EnumNumber(GroupType_GROUP_TYPE_TMP) {
		t.Fatalf("group_type has no explicit default GROUP_TYPE_TMP")
	}
	// No other field of any body declares a default (PROTOCOL.md §3.0).
	for _, c := range Commands() {
		fields := c.Body.Descriptor().Fields()
		for i := 0; i < fields.Len(); i++ {
			f := fields.Get(i)
			if f.HasDefault() && f.FullName() != fd.FullName() {
				t.Errorf("%s has an explicit default", f.FullName())
			}
		}
	}
}
