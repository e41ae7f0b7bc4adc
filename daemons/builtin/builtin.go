// Package builtin is the table of the TeamTalk services built into
// teamtalkd, keyed by kind. It sits above the services (which import package
// daemons for the seam), so the supervisor can import them all; each service
// adds its one entry here when it lands.
package builtin

import (
	"teamtalk/appliance/config"
	"teamtalk/daemons"
	"teamtalk/daemons/dbproxy"
	"teamtalk/daemons/file"
	"teamtalk/daemons/httpmsg"
	"teamtalk/daemons/login"
	"teamtalk/daemons/msfs"
	"teamtalk/daemons/msg"
	"teamtalk/daemons/push"
	"teamtalk/daemons/route"
)

// Table returns the constructors of the services built into teamtalkd.
func Table() daemons.Table {
	return daemons.Table{
		config.DBProxy: dbproxy.New,
		config.Route:   route.New,
		config.Login:   login.New,
		config.Msg:     msg.New,
		config.Msfs:    msfs.New,
		config.Push:    push.New,
		config.HTTPMsg: httpmsg.New,
		config.File:    file.New,
	}
}
