// Command ttchat is a small TeamTalk chat client on the terminal, built on
// package client: it asks the login server for a msg server, logs in, prints
// incoming messages and sends what you type.
//
//	ttchat -login http://127.0.0.1:8080/msg_server -user alice -password 123456
//
// Then type:
//
//	@bob hello      send "hello" to bob
//	/unread         list unread conversations
//	/history bob    show the last messages with bob
//	/users          list the directory
//	/quit           log out and leave (end of input does the same)
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"teamtalk/client"
	"teamtalk/wire/pb"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole program; it returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ttchat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loginURL := fs.String("login", "http://127.0.0.1:8080/msg_server", "login server's msg_server URL")
	msgAddr := fs.String("msg", "", "msg server host:port, skipping the login server")
	user := fs.String("user", "", "user name")
	password := fs.String("password", "", "password (plain; md5 is sent)")
	pc := fs.Bool("pc", false, "log in as a PC (Windows) client instead of Android")
	heartbeat := fs.Duration("heartbeat", 30*time.Second, "heartbeat interval")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *user == "" {
		fmt.Fprintln(stderr, "ttchat: -user is required")
		return 2
	}
	out := &printer{w: stdout}
	if err := chat(ctx, *loginURL, *msgAddr, *user, *password, *pc, *heartbeat, stdin, out); err != nil {
		fmt.Fprintln(stderr, "ttchat:", err)
		return 1
	}
	return 0
}

// printer serialises output from the input loop and the event loop.
type printer struct {
	mu sync.Mutex
	w  io.Writer
}

func (p *printer) printf(format string, a ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, format+"\n", a...)
}

// directory maps login names to users and back.
type directory struct {
	byName map[string]*pb.UserInfo
	byID   map[uint32]*pb.UserInfo
}

func newDirectory(users []*pb.UserInfo) *directory {
	d := &directory{byName: map[string]*pb.UserInfo{}, byID: map[uint32]*pb.UserInfo{}}
	for _, u := range users {
		d.byID[u.GetUserId()] = u
		d.byName[strings.ToLower(u.GetUserRealName())] = u // the login name
	}
	return d
}

// name returns a user's login name, or #id.
func (d *directory) name(id uint32) string {
	if u, ok := d.byID[id]; ok {
		return u.GetUserRealName()
	}
	return fmt.Sprintf("#%d", id)
}

func chat(ctx context.Context, loginURL, msgAddr, user, password string, pc bool, hb time.Duration, stdin io.Reader, out *printer) error {
	if msgAddr == "" {
		info, err := client.Resolve(ctx, loginURL)
		if err != nil {
			return err
		}
		msgAddr = info.Addr()
	}
	opt := client.Options{Heartbeat: hb}
	if pc {
		opt.ClientType = pb.ClientType_CLIENT_TYPE_WINDOWS
	}
	c, err := client.Dial(ctx, msgAddr, opt)
	if err != nil {
		return err
	}
	defer c.Close()
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	res, err := c.Login(cctx, user, password)
	if err != nil {
		return err
	}
	all, err := c.AllUsers(cctx, 0)
	if err != nil {
		return err
	}
	dir := newDirectory(all.GetUserList())
	out.printf("logged in to %s as %s (%s, id %d); %d users. @name text sends, /help lists commands.",
		msgAddr, user, res.User.GetUserNickName(), res.User.GetUserId(), len(dir.byID))

	// Incoming events are printed by their own goroutine, owned here.
	evDone := make(chan struct{})
	go func() {
		defer close(evDone)
		for ev := range c.Events() {
			showEvent(c, dir, out, ev)
		}
	}()
	lines := make(chan string)
	go func() { // ends at the end of input; the process exits after chat returns
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-evDone:
			return fmt.Errorf("disconnected: %w", c.Err())
		case line, ok := <-lines:
			if !ok {
				return logout(ctx, c)
			}
			quit, err := command(ctx, c, dir, out, line)
			if err != nil {
				out.printf("! %v", err)
			}
			if quit {
				return logout(ctx, c)
			}
		}
	}
}

func logout(ctx context.Context, c *client.Client) error {
	lctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := c.Logout(lctx); err != nil && !errors.Is(err, client.ErrClosed) {
		return err
	}
	return nil
}

// command runs one input line and reports whether to quit.
func command(ctx context.Context, c *client.Client, dir *directory, out *printer, line string) (quit bool, err error) {
	verb, arg, text := parseLine(line)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	peer := func() (*pb.UserInfo, error) {
		u, ok := dir.byName[strings.ToLower(arg)]
		if !ok {
			return nil, fmt.Errorf("no user %q", arg)
		}
		return u, nil
	}
	switch verb {
	case "":
		return false, nil
	case "send":
		u, err := peer()
		if err != nil {
			return false, err
		}
		id, err := c.SendText(cctx, u.GetUserId(), text)
		if err != nil {
			return false, err
		}
		out.printf("-> %s (#%d)", u.GetUserRealName(), id)
	case "/unread":
		rsp, err := c.Unread(cctx)
		if err != nil {
			return false, err
		}
		out.printf("%d unread", rsp.GetTotalCnt())
		for _, u := range rsp.GetUnreadinfoList() {
			who := dir.name(u.GetSessionId())
			if u.GetSessionType() == pb.SessionType_SESSION_TYPE_GROUP {
				who = fmt.Sprintf("group %d", u.GetSessionId())
			}
			out.printf("  %s: %d, last from %s: %s", who, u.GetUnreadCnt(), dir.name(u.GetLatestMsgFromUserId()),
				content(c, u.GetLatestMsgType(), u.GetLatestMsgData()))
		}
	case "/history":
		u, err := peer()
		if err != nil {
			return false, err
		}
		rsp, err := c.MsgList(cctx, pb.SessionType_SESSION_TYPE_SINGLE, u.GetUserId(), 0, 20)
		if err != nil {
			return false, err
		}
		l := rsp.GetMsgList()
		for i := len(l) - 1; i >= 0; i-- { // oldest first on the screen
			m := l[i]
			out.printf("  %s %s: %s", time.Unix(int64(m.GetCreateTime()), 0).Format("01-02 15:04"),
				dir.name(m.GetFromSessionId()), content(c, m.GetMsgType(), m.GetMsgData()))
		}
		if len(l) > 0 {
			c.ReadAck(pb.SessionType_SESSION_TYPE_SINGLE, u.GetUserId(), l[0].GetMsgId())
		}
	case "/users":
		ids := make([]uint32, 0, len(dir.byID))
		for id := range dir.byID {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			u := dir.byID[id]
			out.printf("  %-12s %s  %s", u.GetUserRealName(), u.GetUserNickName(), u.GetSignInfo())
		}
	case "/quit":
		return true, nil
	case "/help":
		out.printf("@name text | /unread | /history name | /users | /quit")
	default:
		return false, fmt.Errorf("unknown command %q (/help)", verb)
	}
	return false, nil
}

// parseLine splits an input line: "@bob hi there" is ("send", "bob", "hi
// there"); "/history bob" is ("/history", "bob", ""); blank is "".
func parseLine(line string) (verb, arg, text string) {
	line = strings.TrimSpace(line)
	switch {
	case line == "":
		return "", "", ""
	case strings.HasPrefix(line, "@"):
		name, rest, _ := strings.Cut(line[1:], " ")
		return "send", name, strings.TrimSpace(rest)
	default:
		verb, rest, _ := strings.Cut(line, " ")
		return verb, strings.TrimSpace(rest), ""
	}
}

// content renders message content: decrypted text, or a marker for audio.
func content(c *client.Client, t pb.MsgType, data []byte) string {
	switch t {
	case pb.MsgType_MSG_TYPE_SINGLE_AUDIO, pb.MsgType_MSG_TYPE_GROUP_AUDIO:
		return "[audio]"
	}
	if plain, err := c.Cipher().Decrypt(data); err == nil {
		return string(plain)
	}
	return string(data) // sent unencrypted
}

// showEvent prints one pushed event.
func showEvent(c *client.Client, dir *directory, out *printer, ev client.Event) {
	switch e := ev.(type) {
	case *client.MessageEvent:
		m := e.Msg
		from := dir.name(m.GetFromUserId())
		if m.GetFromUserId() == c.UserID() {
			from = "me (other device) -> " + dir.name(m.GetToSessionId())
		}
		if m.GetMsgType() == pb.MsgType_MSG_TYPE_GROUP_TEXT || m.GetMsgType() == pb.MsgType_MSG_TYPE_GROUP_AUDIO {
			from = fmt.Sprintf("%s in group %d", dir.name(m.GetFromUserId()), m.GetToSessionId())
		}
		out.printf("[%s] %s", from, content(c, m.GetMsgType(), m.GetMsgData()))
	case *client.StatusEvent:
		s := e.Notify.GetUserStat()
		out.printf("* %s is %s", dir.name(s.GetUserId()), strings.ToLower(strings.TrimPrefix(s.GetStatus().String(), "USER_STATUS_")))
	case *client.KickEvent:
		out.printf("* kicked: %s; disconnecting", e.Kick.GetKickReason())
		c.Close() // the server expects a kicked client to leave
	case *client.SignInfoChangedEvent:
		out.printf("* %s now says: %s", dir.name(e.Notify.GetChangedUserId()), e.Notify.GetSignInfo())
	}
}
