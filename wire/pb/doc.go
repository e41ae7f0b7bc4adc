// Package pb holds TeamTalk's protobuf messages (proto2, wire-compatible with
// the reference's pb/*.proto) and the command table that maps each 16-bit
// command id to its name, service id and body message type.
//
// The .proto files are ours, written from PROTOCOL.md §2–§3; the *.pb.go files
// are generated from them with `make proto` and checked in. Every proto package
// (IM.BaseDefine, IM.Login, IM.Buddy, IM.Message, IM.Group, IM.File,
// IM.SwitchService, IM.Other, IM.Server) maps to this one Go package: the
// message and enum names do not collide.
package pb
