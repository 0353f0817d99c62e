package source

import (
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSignatureVerification(t *testing.T) {
	signer, signerPub := newPGPKey(t, "Fleet Signer", "signer@example.com")
	other, _ := newPGPKey(t, "Someone Else", "else@example.com")
	_, thirdPub := newPGPKey(t, "Release Bot", "bot@example.com")

	r := newTestRepo(t, "")
	a := r.commit("first, signed", filesA, signedWith(signer))
	spec := Spec{URL: r.dir, CacheDir: t.TempDir(), VerifyKeys: []string{thirdPub, signerPub}}

	// A signed commit by one of the keys passes.
	rev := fetch(t, spec)
	assert.Equal(t, a.String(), rev.Commit)
	assert.Contains(t, rev.SignedBy, "Fleet Signer <signer@example.com>")
	assert.Contains(t, rev.SignedBy, strings.ToUpper(fingerprint(t, signerPub)))
	goodDir := rev.Dir

	// An unsigned commit is refused; nothing of it is checked out, the cached state stays.
	u := r.commit("unsigned change", filesB)
	err := fetchErr(t, spec)
	t.Logf("unsigned: %v", err)
	assert.ErrorIs(t, err, ErrSignature)
	assert.Contains(t, err.Error(), "commit "+u.String()[:12]+" is not signed")
	assert.NoDirExists(t, filepath.Join(filepath.Dir(goodDir), u.String()))
	assert.DirExists(t, goodDir)
	assert.Equal(t, a.String(), cachedState(t, rev).Refs["HEAD"].Commit, "the last good revision is still the signed one")
	// Asked again: still refused (the objects are cached now; the check is not skipped).
	err = fetchErr(t, spec)
	assert.ErrorIs(t, err, ErrSignature)

	// Signed by a key that is not among VerifyKeys: refused, naming the key used.
	o := r.commit("signed by someone else", map[string]string{"README": "x\n"}, signedWith(other))
	err = fetchErr(t, spec)
	t.Logf("unknown key: %v", err)
	assert.ErrorIs(t, err, ErrSignature)
	assert.Contains(t, err.Error(), "commit "+o.String()[:12]+" is signed by an unknown key")
	assert.Contains(t, err.Error(), strings.ToUpper(fingerprint(t, publicOf(t, other))))
	assert.NoDirExists(t, filepath.Join(filepath.Dir(goodDir), o.String()))
	assert.Equal(t, a.String(), cachedState(t, rev).Refs["HEAD"].Commit)

	// A commit whose content was changed after signing (the signature copied over): refused.
	forged := r.repoCommitWithSignatureOf(o, a)
	r.setBranch("main", forged)
	err = fetchErr(t, spec)
	t.Logf("forged: %v", err)
	assert.ErrorIs(t, err, ErrSignature)
	assert.Contains(t, err.Error(), "does not verify")

	// A new signed commit on top passes again; Previous is the last good one, not the refused ones.
	r.setBranch("main", o)
	s := r.commit("signed again", map[string]string{"README": "y\n"}, signedWith(signer))
	rev = fetch(t, spec)
	assert.Equal(t, s.String(), rev.Commit)
	assert.Equal(t, a.String(), rev.Previous)
	assert.False(t, rev.ForcePushed)
	assert.Contains(t, rev.SignedBy, "Fleet Signer")

	// Without VerifyKeys nothing is checked.
	r.commit("unsigned, unverified", map[string]string{"README": "z\n"})
	unverified := spec
	unverified.VerifyKeys = nil
	rev = fetch(t, unverified)
	assert.Empty(t, rev.SignedBy)

	// The keys are checked for what they are, and their contents never show.
	for _, bad := range []string{"not a key at all: SECRET-MATERIAL", privateArmored(t, signer), "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nSECRET-MATERIAL\n-----END PGP PUBLIC KEY BLOCK-----\n"} {
		s := spec
		s.VerifyKeys = []string{signerPub, bad}
		err := fetchErr(t, s)
		t.Logf("bad key: %v", err)
		assert.ErrorIs(t, err, ErrSignature)
		assert.Contains(t, err.Error(), "VerifyKeys[1]")
		requireNoSecret(t, err.Error(), "SECRET-MATERIAL", "PRIVATE KEY BLOCK-----\n")
	}
}

// repoCommitWithSignatureOf writes a copy of commit content with the signature of commit sigFrom.
func (r *testRepo) repoCommitWithSignatureOf(content, sigFrom plumbing.Hash) plumbing.Hash {
	r.t.Helper()
	c, err := r.repo.CommitObject(content)
	require.NoError(r.t, err)
	src, err := r.repo.CommitObject(sigFrom)
	require.NoError(r.t, err)
	c.PGPSignature = src.PGPSignature
	c.Message += "\ntampered\n"
	obj := r.repo.Storer.NewEncodedObject()
	require.NoError(r.t, c.Encode(obj))
	h, err := r.repo.Storer.SetEncodedObject(obj)
	require.NoError(r.t, err)
	return h
}

func fingerprint(t *testing.T, armored string) string {
	t.Helper()
	el, err := openpgp.ReadArmoredKeyRing(strings.NewReader(armored))
	require.NoError(t, err)
	require.Len(t, el, 1)
	return strings.ToUpper(hex.EncodeToString(el[0].PrimaryKey.Fingerprint))
}

func publicOf(t *testing.T, e *openpgp.Entity) string {
	t.Helper()
	var b strings.Builder
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.Serialize(w))
	require.NoError(t, w.Close())
	return b.String()
}

func privateArmored(t *testing.T, e *openpgp.Entity) string {
	t.Helper()
	var b strings.Builder
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	require.NoError(t, err)
	require.NoError(t, e.SerializePrivate(w, nil))
	require.NoError(t, w.Close())
	return b.String()
}
