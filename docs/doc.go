// Package docs holds the project's documents; its only code is tests that
// the machine-readable API descriptions agree with the server:
// openapi.yaml with the routes the server mounts (server.Routes), and
// asyncapi.yaml with the message types the decoder accepts and the server
// sends (protocol.ClientTypes, protocol.ServerTypes, and every type the
// server's Go and Lua code builds); and both with what a real node answers
// and sends (fields, types, constants). The descriptions' own validity is
// checked by the validators in tools/apidocs (see .ci/run).
package docs
