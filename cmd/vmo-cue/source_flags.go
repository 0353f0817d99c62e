package main

import (
	"github.com/spf13/pflag"

	"github.com/vmo-cue/vmo-cue/internal/source"
)

// sourceFlags are the fleet repository's flags (source.Flags), shared by sync and agent.
type sourceFlags struct{ source.Flags }

func (f *sourceFlags) register(fl *pflag.FlagSet) { f.Register(fl) }

func (f *sourceFlags) spec() (source.Spec, error) { return f.Spec() }
