package push

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// jsonMarshal encodes v without HTML escaping (alert texts keep their < > &).
func jsonMarshal(v any) ([]byte, error) {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, fmt.Errorf("push: encode: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// postJSON makes one webhook attempt.
func postJSON(ctx context.Context, hc *http.Client, url string, body []byte) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return outcome{reason: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "teamtalk-push")
	rsp, err := hc.Do(req)
	if err != nil {
		return outcome{reason: err.Error()}
	}
	defer rsp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(rsp.Body, 512))
	o := outcome{status: rsp.StatusCode}
	if rsp.StatusCode/100 != 2 {
		o.reason = string(b)
	}
	return o
}
