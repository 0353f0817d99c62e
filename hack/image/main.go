// Command image builds the container image of vmo-cue without a Docker daemon
// (github.com/google/go-containerregistry): an empty base, one layer holding the static binary as
// /vmo-cue (mode 0755, owned by root), the agent's own as /vmo-cue-agent, and a CA bundle for https git remotes, run as 65532:65532 with
// Entrypoint ["/vmo-cue"] and the org.opencontainers.image.* labels. It writes an OCI image layout
// (push it with crane, skopeo or oras). Files and times are fixed (SOURCE_DATE_EPOCH), so the same
// binary gives the same image digest. make image builds the binary (CGO_ENABLED=0) and runs this.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func main() {
	var o Options
	out := flag.String("out", "bin/image", "OCI layout directory to write (replaced)")
	ref := flag.String("ref", "", "the image's name in the layout (org.opencontainers.image.ref.name), e.g. its tag")
	flag.StringVar(&o.Binary, "binary", "", "the static linux binary of vmo-cue (required)")
	flag.StringVar(&o.AgentBinary, "agent-binary", "", "the static linux binary of vmo-cue-agent, shipped as /vmo-cue-agent")
	flag.StringVar(&o.Arch, "arch", runtime.GOARCH, "GOARCH the binary was built for")
	flag.StringVar(&o.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to ship for https (\"\": none)")
	flag.StringVar(&o.Source, "source", "https://github.com/vmo-cue/vmo-cue", "org.opencontainers.image.source")
	flag.StringVar(&o.Version, "version", "dev", "org.opencontainers.image.version")
	flag.StringVar(&o.Revision, "revision", "", "org.opencontainers.image.revision (the git commit)")
	flag.Parse()
	created, err := sourceDateEpoch(os.Getenv("SOURCE_DATE_EPOCH"))
	if err == nil {
		o.Created = created
		err = run(o, *out, *ref)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run(o Options, out, ref string) error {
	if o.Binary == "" {
		return fmt.Errorf("-binary is required")
	}
	img, err := Build(o)
	if err != nil {
		return err
	}
	if err := WriteLayout(out, img, ref); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Printf("image %s written to %s (OCI layout)\n", digest, out)
	return nil
}

// sourceDateEpoch is the time of SOURCE_DATE_EPOCH (seconds since 1970), the epoch itself when unset.
func sourceDateEpoch(s string) (time.Time, error) {
	if s == "" {
		return time.Unix(0, 0).UTC(), nil
	}
	sec, err := strconv.ParseInt(s, 10, 64)
	if err != nil || sec < 0 {
		return time.Time{}, fmt.Errorf("SOURCE_DATE_EPOCH %q: not a number of seconds since 1970", s)
	}
	return time.Unix(sec, 0).UTC(), nil
}
