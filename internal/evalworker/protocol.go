// Package evalworker runs the CUE side of a revision — load, validate, render — in a child process
// that the fleet controller can end: CUE's evaluator cannot be cancelled and Go cannot stop a
// goroutine, so a runaway evaluation is stopped for good only by ending its process, and the
// controller's own memory never holds an evaluation.
//
// The worker is `vmo-cue eval-worker --out OUT --batch N DIR` (Serve): it loads the fleet at DIR
// within the evaluation budget (re-executing itself on a breach, as every vmo-cue command does), N
// clusters at a time so that its heap holds one batch (the checks that span clusters still see every
// cluster they compare: see loadBatched), writes each valid cluster's desired state to a file of OUT,
// then a header on stdout — the fleet's name and rollout, the shared definitions' errors, and per
// cluster what planning the rollout needs — and exits: no worker lives while the rollout runs. The
// controller side (Loader) starts it, kills its process group past a deadline or a resident-memory
// limit, keeps the evaluation of the last revision (a pass of the same revision starts no worker),
// and hands the rollout (reconciler/fleet) one cluster's objects at a time, read from its file: the
// controller never holds every cluster's objects at once.
package evalworker

import "github.com/vmo-cue/vmo-cue/internal/evalworker/wire"

// Command is the worker's hidden subcommand of vmo-cue.
const Command = wire.Command

// header is the worker's message on stdout (the protocol is package wire's, which the agent reads
// too).
type header = wire.Header
