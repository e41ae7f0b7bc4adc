package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"teamtalk/client"
	"teamtalk/wire/pb"
)

// fileAppliance starts one appliance with every service (file included),
// handing clients the file server's bound client address.
func fileAppliance(t *testing.T) *appliance {
	t.Helper()
	dir := t.TempDir()
	seed(t, dir, 0)
	return start(t, "A", dir, "-set", "file.advertise=[]")
}

func randomFile(t *testing.T, n int) ([]byte, [32]byte) {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b, sha256.Sum256(b)
}

func fileNotify(u *user, taskID string) *pb.IMFileNotify {
	u.t.Helper()
	ev := u.next("file notify "+taskID, 20*time.Second, func(ev client.Event) bool {
		n, ok := ev.(*client.FileNotifyEvent)
		return ok && (taskID == "" || n.Notify.GetTaskId() == taskID)
	})
	return ev.(*client.FileNotifyEvent).Notify
}

// TestFileOnline: alice sends 10 MB to bob while both are connected; the
// file server relays it and bob's copy has the same sha256.
func TestFileOnline(t *testing.T) {
	a := fileAppliance(t)
	msg := a.addr("msg.listen")
	alice := login(t, msg, "alice", windows)
	bob := login(t, msg, "bob", windows)
	content, sum := randomFile(t, 10<<20)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type sent struct {
		ft  *client.FileTransfer
		err error
	}
	done := make(chan sent, 1)
	go func() {
		ft, err := alice.SendFile(ctx, bob.UserID(), "online.bin", bytes.NewReader(content), uint32(len(content)), true)
		done <- sent{ft, err}
	}()
	n := fileNotify(bob, "")
	if n.GetTransMode() != pb.TransferFileType_FILE_TYPE_ONLINE || n.GetFromUserId() != alice.UserID() ||
		n.GetFileSize() != uint32(len(content)) || n.GetFileName() != "online.bin" || len(n.GetTaskId()) != 36 {
		t.Fatalf("notify: %v", n)
	}
	if ip := n.GetIpAddrList(); len(ip) == 0 || ip[0].GetIp() == "0.0.0.0" {
		t.Fatalf("notify addresses: %v", ip)
	}
	h := sha256.New()
	if err := bob.AcceptFile(ctx, n, h); err != nil {
		t.Fatalf("accept: %v", err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, sum[:]) {
		t.Fatalf("received sha256 %x, sent %x", got, sum)
	}
	s := <-done
	if s.err != nil {
		t.Fatalf("send: %v", s.err)
	}
	if s.ft.Mode != pb.TransferFileType_FILE_TYPE_ONLINE || s.ft.TaskID != n.GetTaskId() {
		t.Fatalf("transfer %+v, notify task %s", s.ft, n.GetTaskId())
	}
	// Nothing was stored for an online transfer.
	entries, _ := filepath.Glob(filepath.Join(a.dir, "offline_file", "*", "*"))
	if len(entries) != 0 {
		t.Fatalf("online transfer left files: %v", entries)
	}
}

// TestFileOnlineRefused: bob refuses; alice's SendFile reports it.
func TestFileOnlineRefused(t *testing.T) {
	a := fileAppliance(t)
	msg := a.addr("msg.listen")
	alice := login(t, msg, "alice", windows)
	bob := login(t, msg, "bob", windows)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := alice.SendFile(ctx, bob.UserID(), "no.bin", bytes.NewReader([]byte("nope")), 4, true)
		done <- err
	}()
	n := fileNotify(bob, "")
	if err := bob.RefuseFile(ctx, n); err != nil {
		t.Fatal(err)
	}
	var se *client.FileStateError
	if err := <-done; !asFileState(err, &se) || se.State != pb.ClientFileState_CLIENT_FILE_REFUSE {
		t.Fatalf("send after refuse: %v", err)
	}
}

func asFileState(err error, se **client.FileStateError) bool {
	e, ok := err.(*client.FileStateError)
	if ok {
		*se = e
	}
	return ok
}

// TestFileOffline: alice sends 10 MB to carol, who is not connected, asking
// for an online transfer: it becomes offline, is stored on disk in the
// reference's layout, and carol, logging in later, lists, pulls (reloaded
// from disk) and deletes it.
func TestFileOffline(t *testing.T) {
	a := fileAppliance(t)
	msg := a.addr("msg.listen")
	alice := login(t, msg, "alice", windows)
	content, sum := randomFile(t, 10<<20)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const carol = 3
	ft, err := alice.SendFile(ctx, carol, "offline.bin", bytes.NewReader(content), uint32(len(content)), true)
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	if ft.Mode != pb.TransferFileType_FILE_TYPE_OFFLINE {
		t.Fatalf("mode %v for a receiver who is not online", ft.Mode)
	}
	path := filepath.Join(a.dir, "offline_file", ft.TaskID[:2], ft.TaskID)
	st, err := os.Stat(path)
	if err != nil || st.Size() != 960+int64(len(content)) {
		t.Fatalf("stored file %s: %v, %v", path, st, err)
	}
	if _, err := os.Stat(path + ".part"); !os.IsNotExist(err) {
		t.Fatalf("temporary file left: %v", err)
	}

	c := login(t, msg, "carol", windows)
	var files *pb.IMFileHasOfflineRsp
	eventually(t, 10*time.Second, "carol's offline file listed", func() bool {
		files, err = c.HasOfflineFiles(ctx)
		return err == nil && len(files.GetOfflineFileList()) == 1
	})
	f := files.GetOfflineFileList()[0]
	if f.GetTaskId() != ft.TaskID || f.GetFromUserId() != alice.UserID() || f.GetFileSize() != uint32(len(content)) || f.GetFileName() != "offline.bin" {
		t.Fatalf("listed %v, sent task %s", f, ft.TaskID)
	}
	h := sha256.New()
	if err := c.DownloadOfflineFile(ctx, f, files.GetIpAddrList(), h); err != nil {
		t.Fatalf("download: %v", err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, sum[:]) {
		t.Fatalf("downloaded sha256 %x, sent %x", got, sum)
	}
	if err := c.DeleteOfflineFile(f.GetFromUserId(), f.GetTaskId()); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "offline list empty after delete", func() bool {
		files, err = c.HasOfflineFiles(ctx)
		return err == nil && len(files.GetOfflineFileList()) == 0
	})
}

// TestFileOfflineNotify: with carol connected, an explicit offline send
// ends with a ready notify she can accept from.
func TestFileOfflineNotify(t *testing.T) {
	a := fileAppliance(t)
	msg := a.addr("msg.listen")
	alice := login(t, msg, "alice", windows)
	c := login(t, msg, "carol", windows)
	content, sum := randomFile(t, 3*client.FileBlock+5)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ft, err := alice.SendFile(ctx, c.UserID(), "small.bin", bytes.NewReader(content), uint32(len(content)), false)
	if err != nil || ft.Mode != pb.TransferFileType_FILE_TYPE_OFFLINE {
		t.Fatalf("send: %+v, %v", ft, err)
	}
	var n *pb.IMFileNotify
	for n == nil || n.GetOfflineReady() != 1 {
		n = fileNotify(c, ft.TaskID)
	}
	h := sha256.New()
	if err := c.AcceptFile(ctx, n, h); err != nil {
		t.Fatal(err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, sum[:]) {
		t.Fatalf("sha256 %x, sent %x", got, sum)
	}
}
