package httpmsg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"teamtalk/daemons/internal/styled"
	"teamtalk/wire/pb"
)

// Error codes and texts of the reference (PROTOCOL.md §4.15); the texts of
// 2 and 4 are ours (the reference never sends them).
const (
	codeOK            = 0
	codeBadParam      = 1
	codeBadKey        = 2
	codeForbidden     = 4
	codeServer        = 10
	codeCreateFailed  = 11
	codeChangeFailed  = 12
	codeEncryptFailed = 13
)

var texts = map[int]string{
	codeOK:            "成功",
	codeBadParam:      "参数错误",
	codeBadKey:        "app_key无效",
	codeForbidden:     "禁止的目标id",
	codeServer:        "服务器异常",
	codeCreateFailed:  "创建群失败",
	codeChangeFailed:  "更改群成员失败",
	codeEncryptFailed: "加密失败",
}

// answer is one reply: error_code, error_msg and extra members.
type answer struct {
	code  int
	extra map[string]string // key → JSON text
}

// Body returns the styled JSON of the answer.
func (a answer) body() []byte {
	m := map[string]string{"error_code": styled.Int(a.code), "error_msg": styled.Quote(texts[a.code])}
	for k, v := range a.extra {
		m[k] = v
	}
	return styled.Object(m)
}

// response returns the whole HTTP reply, byte for byte as the reference
// writes it (vectors/http_msg_creategroup.txt).
func response(body []byte) []byte {
	head := fmt.Sprintf("HTTP/1.1 200 OK\r\nCache-Control:no-cache\r\nConnection:close\r\nContent-Length:%d\r\nContent-Type:text/html;charset=utf-8\r\n\r\n", len(body))
	return append([]byte(head), body...)
}

// params is a request's JSON object with typed, presence-checked getters;
// the first problem is kept in err.
type params struct {
	m   map[string]json.RawMessage
	err error
}

func (p *params) fail(key, why string) {
	if p.err == nil {
		p.err = fmt.Errorf("%s: %s", key, why)
	}
}

func (p *params) raw(key string) json.RawMessage {
	v, ok := p.m[key]
	if !ok {
		p.fail(key, "missing")
	}
	return v
}

// uint32 reads a non-negative integer that fits 32 bits.
func (p *params) uint32(key string) uint32 {
	v := p.raw(key)
	if v == nil {
		return 0
	}
	var f float64
	if err := json.Unmarshal(v, &f); err != nil || f < 0 || f > math.MaxUint32 || f != math.Trunc(f) {
		p.fail(key, "not a 32-bit unsigned integer")
		return 0
	}
	return uint32(f)
}

func (p *params) str(key string) string {
	v := p.raw(key)
	if v == nil {
		return ""
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		p.fail(key, "not a string")
	}
	return s
}

func (p *params) ids(key string) []uint32 {
	v := p.raw(key)
	if v == nil {
		return nil
	}
	var fs []float64
	if err := json.Unmarshal(v, &fs); err != nil {
		p.fail(key, "not an array of numbers")
		return nil
	}
	out := make([]uint32, 0, len(fs))
	for _, f := range fs {
		if f <= 0 || f > math.MaxUint32 || f != math.Trunc(f) {
			p.fail(key, "holds a value that is not a user id")
			return nil
		}
		out = append(out, uint32(f))
	}
	return out
}

// endpoint serves one /query/ name; it returns the answer.
type endpoint func(s *Service, ctx context.Context, p *params) answer

var endpoints = map[string]endpoint{
	"CreateGroup":   (*Service).createGroup,
	"ChangeMembers": (*Service).changeMembers,
	"SendMessage":   (*Service).sendMessage,
}

// serveHTTP answers one request and closes the connection; requests it
// cannot parse are closed unanswered (§4.15).
func (s *Service) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.c.requests.Add(1)
	var reply []byte
	if name, ok := strings.CutPrefix(r.URL.Path, "/query/"); ok {
		if ep := endpoints[name]; ep != nil {
			if body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1)); err == nil && len(body) <= maxBody {
				var m map[string]json.RawMessage
				if json.Unmarshal(body, &m) == nil && m != nil {
					reply = response(s.handle(r.Context(), ep, &params{m: m}).body())
				}
			}
		}
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	if reply == nil {
		s.c.unanswered.Add(1)
		return
	}
	_ = conn.SetWriteDeadline(time.Now().Add(s.cfg.IdleTimeout.D()))
	if _, err := conn.Write(reply); err == nil {
		s.c.answered.Add(1)
	}
}

// handle checks the key, then runs the endpoint.
func (s *Service) handle(ctx context.Context, ep endpoint, p *params) answer {
	key := p.str("app_key")
	if p.err != nil {
		s.c.badParams.Add(1)
		return answer{code: codeBadParam}
	}
	if !s.authorized(key) {
		s.c.authRefused.Add(1)
		return answer{code: codeBadKey}
	}
	a := ep(s, ctx, p)
	if a.code == codeBadParam {
		s.c.badParams.Add(1)
	} else if a.code != codeOK {
		s.c.failures.Add(1)
	}
	return a
}

// dbFailure maps a call error to an answer: no link or a timeout is a
// server error.
func (s *Service) dbFailure(err error, timeoutCode int) answer {
	switch {
	case errors.Is(err, errNoDB):
		s.c.noDB.Add(1)
		return answer{code: codeServer}
	case errors.Is(err, errTimeout):
		s.c.timeouts.Add(1)
		return answer{code: timeoutCode}
	}
	return answer{code: codeServer}
}

func (s *Service) createGroup(ctx context.Context, p *params) answer {
	p.uint32("req_user_id")
	name, typ, avatar, members := p.str("group_name"), p.uint32("group_type"), p.str("group_avatar"), p.ids("user_id_list")
	if p.err != nil || (typ != 1 && typ != 2) {
		return answer{code: codeBadParam}
	}
	m, err := s.call(ctx, 0, pb.CmdGroupCreateRequest, func(a []byte) proto.Message {
		return &pb.IMGroupCreateReq{UserId: proto.Uint32(0), GroupType: pb.GroupType(typ).Enum(), GroupName: &name,
			GroupAvatar: &avatar, MemberIdList: members, AttachData: a}
	})
	failed := answer{code: codeCreateFailed, extra: map[string]string{"group_id": "0"}}
	if err != nil {
		a := s.dbFailure(err, codeServer)
		a.extra = failed.extra
		return a
	}
	rsp, ok := m.(*pb.IMGroupCreateRsp)
	if !ok || rsp.GetResultCode() != 0 || rsp.GetGroupId() == 0 {
		return failed
	}
	s.c.groupsCreated.Add(1)
	s.log.Info("httpmsg: group created", "group", rsp.GetGroupId(), "name", name, "members", len(rsp.GetUserIdList()))
	return answer{code: codeOK, extra: map[string]string{"group_id": styled.Uint(rsp.GetGroupId())}}
}

func (s *Service) changeMembers(ctx context.Context, p *params) answer {
	p.uint32("req_user_id")
	gid, op, ids := p.uint32("group_id"), p.uint32("modify_type"), p.ids("user_id_list")
	if p.err != nil || (op != 1 && op != 2) || gid == 0 {
		return answer{code: codeBadParam}
	}
	ct := pb.GroupModifyType(op)
	m, err := s.call(ctx, gid, pb.CmdGroupChangeMemberRequest, func(a []byte) proto.Message {
		return &pb.IMGroupChangeMemberReq{UserId: proto.Uint32(0), ChangeType: ct.Enum(), GroupId: &gid, MemberIdList: ids, AttachData: a}
	})
	if err != nil {
		return s.dbFailure(err, codeChangeFailed)
	}
	rsp, ok := m.(*pb.IMGroupChangeMemberRsp)
	if !ok || rsp.GetResultCode() != 0 {
		return answer{code: codeChangeFailed}
	}
	if err := s.toRoute(pb.CmdGroupChangeMemberNotify, &pb.IMGroupChangeMemberNotify{
		UserId: proto.Uint32(0), ChangeType: ct.Enum(), GroupId: &gid,
		CurUserIdList: rsp.GetCurUserIdList(), ChgUserIdList: rsp.GetChgUserIdList(),
	}); err != nil {
		s.log.Warn("httpmsg: group change notify not sent", "group", gid, "err", err)
	}
	s.c.membersChanged.Add(1)
	return answer{code: codeOK}
}

func (s *Service) sendMessage(ctx context.Context, p *params) answer {
	from := p.uint32("req_user_id")
	to, st, text := p.uint32("to_session_id"), p.uint32("session_type"), p.str("msg_data")
	if s.cfg.SystemUserID != 0 {
		from = s.cfg.SystemUserID
	}
	if p.err != nil || from == 0 || to == 0 || text == "" || (st != 1 && st != 2) {
		return answer{code: codeBadParam}
	}
	group := st == 2
	if !group && to == from {
		return answer{code: codeForbidden}
	}
	if group {
		// db drops a group message from a non-member without a reply:
		// check membership first.
		m, err := s.call(ctx, to, pb.CmdGroupInfoRequest, func(a []byte) proto.Message {
			return &pb.IMGroupInfoListReq{UserId: &from, GroupVersionList: []*pb.GroupVersionInfo{{GroupId: &to, Version: proto.Uint32(0)}}, AttachData: a}
		})
		if err != nil {
			return s.dbFailure(err, codeServer)
		}
		member := false
		rsp, _ := m.(*pb.IMGroupInfoListRsp)
		for _, gi := range rsp.GetGroupInfoList() {
			for _, id := range gi.GetGroupMemberList() {
				member = member || (gi.GetGroupId() == to && id == from)
			}
		}
		if !member {
			return answer{code: codeForbidden}
		}
	}
	enc := s.text.Encrypt([]byte(text))
	typ := pb.MsgType_MSG_TYPE_SINGLE_TEXT
	if group {
		typ = pb.MsgType_MSG_TYPE_GROUP_TEXT
	}
	now := uint32(time.Now().Unix())
	m, err := s.call(ctx, to, pb.CmdMsgData, func(a []byte) proto.Message {
		return &pb.IMMsgData{FromUserId: &from, ToSessionId: &to, MsgId: proto.Uint32(0), CreateTime: &now,
			MsgType: typ.Enum(), MsgData: enc, AttachData: a}
	})
	if err != nil {
		return s.dbFailure(err, codeServer)
	}
	stored, ok := m.(*pb.IMMsgData)
	if !ok || stored.GetMsgId() == 0 {
		return answer{code: codeForbidden}
	}
	stored.AttachData = nil
	if err := s.toRoute(pb.CmdMsgData, stored); err != nil {
		// Stored: clients see it in history and unread counts.
		s.log.Warn("httpmsg: message stored but not relayed", "to", to, "err", err)
	}
	s.c.messagesSent.Add(1)
	return answer{code: codeOK, extra: map[string]string{"msg_id": styled.Uint(stored.GetMsgId())}}
}
