package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/stretchr/testify/require"
)

const fakeCA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"

// standIn builds a tiny program in place of vmo-cue (the image builder takes any binary), with extra
// go build flags.
func standIn(t *testing.T, flags ...string) string {
	t.Helper()
	return standInSaying(t, "stand-in", flags...)
}

// standInSaying is a stand-in printing what.
func standInSaying(t *testing.T, what string, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module standin\n\ngo 1.26\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\""+what+"\") }\n"), 0o644))
	out := filepath.Join(dir, "vmo-cue")
	cmd := exec.Command("go", append(append([]string{"build"}, flags...), "-o", out, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH, "GOFLAGS=")
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, string(b))
	return out
}

func options(t *testing.T, binary string) Options {
	ca := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(ca, []byte(fakeCA), 0o644))
	return Options{Binary: binary, CACerts: ca, Arch: runtime.GOARCH, Source: "https://github.com/vmo-cue/vmo-cue",
		Version: "v1.2.3", Revision: "0123456789abcdef0123456789abcdef01234567", Created: time.Unix(1700000000, 0).UTC()}
}

// TestImageLayout builds the image of a stand-in binary into an OCI layout, reads it back and checks
// what a container runtime uses: entrypoint, user, the binary in the layer, executable and unchanged.
func TestImageLayout(t *testing.T) {
	bin, agentBin := standIn(t), standInSaying(t, "agent stand-in")
	dir := filepath.Join(t.TempDir(), "image")
	o := options(t, bin)
	o.AgentBinary = agentBin
	require.NoError(t, run(o, dir, "vmo-cue:v1.2.3"))

	idx, err := layout.ImageIndexFromPath(dir)
	require.NoError(t, err)
	manifest, err := idx.IndexManifest()
	require.NoError(t, err)
	require.Len(t, manifest.Manifests, 1)
	desc := manifest.Manifests[0]
	require.Equal(t, "application/vnd.oci.image.manifest.v1+json", string(desc.MediaType))
	require.Equal(t, "vmo-cue:v1.2.3", desc.Annotations["org.opencontainers.image.ref.name"])
	img, err := idx.Image(desc.Digest)
	require.NoError(t, err)

	cf, err := img.ConfigFile()
	require.NoError(t, err)
	require.Equal(t, []string{"/vmo-cue"}, cf.Config.Entrypoint)
	require.Empty(t, cf.Config.Cmd)
	require.Equal(t, "65532:65532", cf.Config.User)
	require.Equal(t, "linux", cf.OS)
	require.Equal(t, runtime.GOARCH, cf.Architecture)
	require.Equal(t, map[string]string{
		"org.opencontainers.image.title":    "vmo-cue",
		"org.opencontainers.image.source":   "https://github.com/vmo-cue/vmo-cue",
		"org.opencontainers.image.version":  "v1.2.3",
		"org.opencontainers.image.revision": "0123456789abcdef0123456789abcdef01234567",
		"org.opencontainers.image.created":  "2023-11-14T22:13:20Z",
	}, cf.Config.Labels)

	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1, "an empty base and one layer")
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	entries := map[string]*tar.Header{}
	contents := map[string][]byte{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		entries[h.Name] = h
		contents[h.Name], err = io.ReadAll(tr)
		require.NoError(t, err)
	}
	require.Len(t, entries, 6, "vmo-cue, vmo-cue-agent, the CA bundle and its folders: %v", entries)
	for _, d := range []string{"etc/", "etc/ssl/", "etc/ssl/certs/"} {
		require.Equal(t, byte(tar.TypeDir), entries[d].Typeflag, d)
	}
	h := entries["vmo-cue"]
	require.NotNil(t, h, "the binary is /vmo-cue")
	require.Equal(t, byte(tar.TypeReg), h.Typeflag)
	require.Equal(t, int64(0o755), h.Mode, "executable by the image's user, writable by root only")
	require.Zero(t, h.Uid)
	require.Equal(t, time.Unix(1700000000, 0).UTC(), h.ModTime.UTC())
	want, err := os.ReadFile(bin)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, contents["vmo-cue"]), "the binary changed on its way in")
	require.Equal(t, fakeCA, string(contents["etc/ssl/certs/ca-certificates.crt"]))

	a := entries["vmo-cue-agent"]
	require.NotNil(t, a, "the agent's binary is /vmo-cue-agent")
	require.Equal(t, int64(0o755), a.Mode)
	want, err = os.ReadFile(agentBin)
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, contents["vmo-cue-agent"]), "the agent's binary changed on its way in")

	// What is in the layer runs (here, on linux, the image's OS).
	if runtime.GOOS == "linux" {
		for name, says := range map[string]string{"vmo-cue": "stand-in\n", "vmo-cue-agent": "agent stand-in\n"} {
			extracted := filepath.Join(t.TempDir(), name)
			require.NoError(t, os.WriteFile(extracted, contents[name], os.FileMode(entries[name].Mode)))
			out, err := exec.Command(extracted).Output()
			require.NoError(t, err)
			require.Equal(t, says, string(out))
		}
	}

	// The same inputs give the same image.
	again, err := Build(o)
	require.NoError(t, err)
	d1, err := img.Digest()
	require.NoError(t, err)
	d2, err := again.Digest()
	require.NoError(t, err)
	require.Equal(t, d1, d2)
}

// TestImageRefusesWhatWouldNotRun: an empty base has no loader and no shell.
func TestImageRefusesWhatWouldNotRun(t *testing.T) {
	static := standIn(t)
	other := map[string]string{"amd64": "arm64"}[runtime.GOARCH]
	if other == "" {
		other = "amd64"
	}
	text := filepath.Join(t.TempDir(), "vmo-cue.sh")
	require.NoError(t, os.WriteFile(text, []byte("#!/bin/sh\necho hi\n"), 0o755))
	noPEM := filepath.Join(t.TempDir(), "ca.crt")
	require.NoError(t, os.WriteFile(noPEM, []byte("not a certificate\n"), 0o644))
	tests := []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"dynamically linked", func(o *Options) { o.Binary = standIn(t, "-buildmode=pie") },
			"is dynamically linked (interpreter /"},
		{"another architecture", func(o *Options) { o.Arch = other }, "vmo-cue is built for EM_"},
		{"not an executable", func(o *Options) { o.Binary = text }, text + " is not an ELF executable: bad magic number"},
		{"a CA bundle without certificates", func(o *Options) { o.CACerts = noPEM }, "CA bundle " + noPEM + " holds no PEM certificate"},
		{"no binary", func(o *Options) { o.Binary = filepath.Join(t.TempDir(), "none") }, "no such file or directory"},
		{"a dynamically linked agent", func(o *Options) { o.AgentBinary = standIn(t, "-buildmode=pie") }, "is dynamically linked (interpreter /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := options(t, static)
			tt.change(&o)
			_, err := Build(o)
			require.ErrorContains(t, err, tt.want)
			if strings.Contains(tt.name, "dynamically") {
				require.ErrorContains(t, err, "the image has no loader: build it with CGO_ENABLED=0")
			}
		})
	}
}

func TestSourceDateEpoch(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{"", "1970-01-01T00:00:00Z", ""},
		{"1700000000", "2023-11-14T22:13:20Z", ""},
		{"yesterday", "", `SOURCE_DATE_EPOCH "yesterday": not a number of seconds since 1970`},
		{"-5", "", `SOURCE_DATE_EPOCH "-5": not a number of seconds since 1970`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := sourceDateEpoch(tt.in)
			if tt.err != "" {
				require.EqualError(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got.Format(time.RFC3339))
		})
	}
}
