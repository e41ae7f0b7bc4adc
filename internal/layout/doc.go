// Package layout holds the tests that keep the repository's layout honest
// (ARCHITECTURE.md "Rules of the house"): every package documented, arrows
// pointing down, no service importing another, only the storage-owning
// services touching the IM store. It has no code of its own.
package layout
