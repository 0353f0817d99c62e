package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Where things are in the image, and who runs it.
const (
	BinaryPath = "/vmo-cue"
	// AgentBinaryPath is the agent's own binary, which `vmo-cue agent` hands over to.
	AgentBinaryPath = "/vmo-cue-agent"
	// CACertsPath is where Go's crypto/x509 looks for the system roots first on Linux.
	CACertsPath = "/etc/ssl/certs/ca-certificates.crt"
	// User is the uid:gid the image runs as: not root, and the same as distroless' nonroot user.
	User = "65532:65532"
)

// Options say what goes into the image.
type Options struct {
	// Binary is the static linux executable to ship as /vmo-cue.
	Binary string
	// AgentBinary is cmd/vmo-cue-agent's, shipped as /vmo-cue-agent ("": none; `vmo-cue agent` then
	// runs the agent in its own, larger, process).
	AgentBinary string
	// CACerts is a PEM bundle shipped as /etc/ssl/certs/ca-certificates.crt, so that https git remotes
	// can be verified; "" ships none.
	CACerts string
	// Arch is the GOARCH the binary was built for (amd64, arm64, ...); it is checked against the ELF.
	Arch string
	// Source, Version and Revision become the org.opencontainers.image.* labels.
	Source, Version, Revision string
	// Created is the image's creation time and the time of its files (SOURCE_DATE_EPOCH): with the
	// same inputs the image is the same, byte for byte.
	Created time.Time
}

// elfMachines maps GOARCH to the ELF machine of its binaries.
var elfMachines = map[string]elf.Machine{
	"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64, "arm": elf.EM_ARM,
	"386": elf.EM_386, "ppc64le": elf.EM_PPC64, "s390x": elf.EM_S390, "riscv64": elf.EM_RISCV,
}

// Build makes the image: an empty base and one layer holding the binaries (and the CA bundle).
func Build(o Options) (v1.Image, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, err
	}
	if err := checkStatic(o.Binary, bin, o.Arch); err != nil {
		return nil, err
	}
	files := []file{{BinaryPath, bin, 0o755}}
	if o.AgentBinary != "" {
		agent, err := os.ReadFile(o.AgentBinary)
		if err != nil {
			return nil, err
		}
		if err := checkStatic(o.AgentBinary, agent, o.Arch); err != nil {
			return nil, err
		}
		files = append(files, file{AgentBinaryPath, agent, 0o755})
	}
	if o.CACerts != "" {
		pem, err := os.ReadFile(o.CACerts)
		if err != nil {
			return nil, fmt.Errorf("CA bundle: %w", err)
		}
		if !bytes.Contains(pem, []byte("-----BEGIN CERTIFICATE-----")) {
			return nil, fmt.Errorf("CA bundle %s holds no PEM certificate", o.CACerts)
		}
		files = append(files, file{CACertsPath, pem, 0o644})
	}
	layerTar, err := tarFiles(files, o.Created)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{
		Created: v1.Time{Time: o.Created}, CreatedBy: "hack/image: " + BinaryPath, Comment: "vmo-cue, static",
	}})
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.Arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Config.Entrypoint = []string{BinaryPath}
	cf.Config.Cmd = nil
	cf.Config.User = User
	cf.Config.WorkingDir = "/"
	cf.Config.Env = []string{"PATH=/"}
	cf.Config.Labels = map[string]string{
		"org.opencontainers.image.title":    "vmo-cue",
		"org.opencontainers.image.source":   o.Source,
		"org.opencontainers.image.version":  o.Version,
		"org.opencontainers.image.revision": o.Revision,
		"org.opencontainers.image.created":  o.Created.UTC().Format(time.RFC3339),
	}
	return mutate.ConfigFile(img, cf)
}

// WriteLayout writes the image as the only one of an OCI image layout in dir (replacing what was
// there), its manifest annotated with ref (org.opencontainers.image.ref.name), e.g. the tag.
func WriteLayout(dir string, img v1.Image, ref string) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	var opts []layout.Option
	if ref != "" {
		opts = append(opts, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref}))
	}
	return p.AppendImage(img, opts...)
}

// checkStatic refuses what would not run on an empty base: not a linux ELF executable of the
// architecture, or dynamically linked (it would look for a loader the image does not have).
func checkStatic(name string, bin []byte, arch string) error {
	want, ok := elfMachines[arch]
	if !ok {
		return fmt.Errorf("architecture %q not supported", arch)
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return fmt.Errorf("%s is not an ELF executable: %w", name, err)
	}
	defer f.Close()
	if f.Machine != want {
		return fmt.Errorf("%s is built for %s, not %s (GOARCH=%s)", name, f.Machine, want, arch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp, _ := io.ReadAll(p.Open())
			return fmt.Errorf("%s is dynamically linked (interpreter %s), the image has no loader: build it with CGO_ENABLED=0",
				name, string(bytes.TrimRight(interp, "\x00")))
		}
	}
	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return fmt.Errorf("%s is not an executable (ELF type %s)", name, f.Type)
	}
	return nil
}

type file struct {
	path string
	data []byte
	mode int64
}

// tarFiles writes the files, and the folders above them, owned by root, with the given time.
func tarFiles(files []file, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		if len(f.path) < 2 || f.path[0] != '/' {
			return nil, errors.New("file path must be absolute: " + f.path)
		}
		rel := f.path[1:]
		for i := range len(rel) {
			if rel[i] == '/' && !dirs[rel[:i]] {
				dirs[rel[:i]] = true
				if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: rel[:i+1], Mode: 0o755, ModTime: mtime}); err != nil {
					return nil, err
				}
			}
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: rel, Mode: f.mode, Size: int64(len(f.data)), ModTime: mtime}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
