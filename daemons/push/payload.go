package push

import (
	"encoding/hex"
	"encoding/json"
	"fmt"

	"teamtalk/wire/pb"
)

// maxPayload is APNs' limit for a notification payload (HTTP/2 API).
const maxPayload = 4096

// Push types of UserTokenInfo.push_type (PROTOCOL.md §4.5).
const (
	pushAlert  = 1 // alert + badge + sound
	pushSilent = 2 // badge only: the user is online on a PC
)

// sound is the reference's alert sound.
const sound = "bingbong.aiff"

// apsAlert is the alert dictionary.
type apsAlert struct {
	Body string `json:"body"`
}

// aps is the "aps" dictionary.
type aps struct {
	Alert *apsAlert `json:"alert,omitempty"`
	Badge uint32    `json:"badge"`
	Sound string    `json:"sound,omitempty"`
}

// apnsPayload is a notification's JSON (§4.16): aps plus the msg server's
// data under "custom".
type apnsPayload struct {
	Aps    aps             `json:"aps"`
	Custom json.RawMessage `json:"custom,omitempty"`
}

// custom returns the request's data for embedding: as is when it is JSON
// (msg sends an object with from_id, msg_type, group_id), else as a JSON
// string; nil when empty.
func custom(data string) json.RawMessage {
	if data == "" {
		return nil
	}
	if json.Valid([]byte(data)) {
		return json.RawMessage(data)
	}
	b, _ := json.Marshal(data)
	return b
}

// Payload returns the APNs payload of one token (§4.16): for push_type 2 a
// badge-only notification, otherwise alert body, badge and sound; data goes
// under "custom". It fails when the result exceeds APNs' 4 KiB.
func Payload(flash, data string, t *pb.UserTokenInfo) ([]byte, error) {
	p := apnsPayload{Aps: aps{Badge: t.GetPushCount()}, Custom: custom(data)}
	if t.GetPushType() != pushSilent {
		p.Aps.Alert = &apsAlert{Body: flash}
		p.Aps.Sound = sound
	}
	b, err := jsonMarshal(p)
	if err != nil {
		return nil, err
	}
	if len(b) > maxPayload {
		return nil, fmt.Errorf("push: payload is %d bytes, over APNs' %d", len(b), maxPayload)
	}
	return b, nil
}

// WebhookEvent is the JSON body POSTed to [push].webhook_url for one token.
type WebhookEvent struct {
	// Token is the device token as the client registered it.
	Token string `json:"token"`
	// Kind is "ios", "android", or "client-<n>" for another client type.
	Kind string `json:"kind"`
	// UserID is the receiving user.
	UserID uint32 `json:"user_id"`
	// Alert is the notification text; empty for a badge-only push.
	Alert string `json:"alert"`
	// Badge is the user's total unread count.
	Badge uint32 `json:"badge"`
	// Silent is set for a badge-only push (the user is online on a PC).
	Silent bool `json:"silent"`
	// Data is msg's data (from_id, msg_type, group_id) as JSON.
	Data json.RawMessage `json:"data,omitempty"`
}

// kind names a token's client type for the webhook.
func kind(ct pb.ClientType) string {
	switch ct {
	case pb.ClientType_CLIENT_TYPE_IOS:
		return "ios"
	case pb.ClientType_CLIENT_TYPE_ANDROID:
		return "android"
	}
	return fmt.Sprintf("client-%d", ct)
}

// Event returns the webhook event of one token.
func Event(flash, data string, t *pb.UserTokenInfo) WebhookEvent {
	e := WebhookEvent{Token: t.GetToken(), Kind: kind(t.GetUserType()), UserID: t.GetUserId(),
		Badge: t.GetPushCount(), Data: custom(data)}
	if t.GetPushType() == pushSilent {
		e.Silent = true
	} else {
		e.Alert = flash
	}
	return e
}

// validAPNsToken reports whether tok is an APNs device token: hex, 32 to 100
// bytes (64 hex characters today; Apple documents no fixed length).
func validAPNsToken(tok string) bool {
	if len(tok) < 64 || len(tok) > 200 || len(tok)%2 != 0 {
		return false
	}
	_, err := hex.DecodeString(tok)
	return err == nil
}
