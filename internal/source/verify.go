package source

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

const publicKeyBegin = "-----BEGIN PGP PUBLIC KEY BLOCK-----"

// parseKeys reads the armored public keys of Spec.VerifyKeys (an element may hold several blocks).
// Errors say which element is wrong, never what it holds.
func parseKeys(armored []string) (openpgp.EntityList, error) {
	var all openpgp.EntityList
	for i, a := range armored {
		if strings.Contains(a, "PRIVATE KEY BLOCK") {
			return nil, fmt.Errorf("VerifyKeys[%d] holds a private key: give the armored public key", i)
		}
		blocks := strings.Split(a, publicKeyBegin)
		n := 0
		for _, b := range blocks[1:] {
			el, err := openpgp.ReadArmoredKeyRing(strings.NewReader(publicKeyBegin + b))
			if err != nil {
				return nil, fmt.Errorf("VerifyKeys[%d] is not a readable armored OpenPGP public key", i)
			}
			all = append(all, el...)
			n += len(el)
		}
		if n == 0 {
			return nil, fmt.Errorf("VerifyKeys[%d] is not an armored OpenPGP public key (no %q)", i, publicKeyBegin)
		}
	}
	return all, nil
}

// verify checks the commit's OpenPGP signature against the keys and returns who signed it. Without
// keys nothing is checked.
func (f *fetcher) verify(c *object.Commit) (string, error) {
	if len(f.keys) == 0 {
		return "", nil
	}
	short := c.Hash.String()[:12]
	sig := c.PGPSignature
	switch {
	case strings.TrimSpace(sig) == "":
		return "", f.errorf(ErrSignature, "commit %s is not signed: a signature by one of the %d VerifyKeys is required", short, len(f.keys))
	case strings.Contains(sig, "BEGIN SSH SIGNATURE"):
		return "", f.errorf(ErrSignature, "commit %s carries an SSH signature: only OpenPGP signatures by the VerifyKeys are accepted", short)
	case strings.Count(sig, "-----BEGIN PGP SIGNATURE-----") != 1:
		return "", f.errorf(ErrSignature, "commit %s does not carry exactly one OpenPGP signature", short)
	}
	enc := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(enc); err != nil {
		return "", f.errorf(ErrSignature, "commit %s: %v", short, err)
	}
	r, err := enc.Reader()
	if err != nil {
		return "", f.errorf(ErrSignature, "commit %s: %v", short, err)
	}
	signer, err := openpgp.CheckArmoredDetachedSignature(f.keys, r, strings.NewReader(sig), nil)
	if err != nil {
		if errors.Is(err, pgperrors.ErrUnknownIssuer) {
			return "", f.errorf(ErrSignature, "commit %s is signed by an unknown key%s, not by one of the %d VerifyKeys", short, issuerOf(sig), len(f.keys))
		}
		return "", f.errorf(ErrSignature, "commit %s: the signature%s does not verify: %v", short, issuerOf(sig), err)
	}
	return describe(signer), nil
}

// issuerOf names the key a signature says it was made with (" (key ID ...)"), or "".
func issuerOf(armored string) string {
	block, err := armor.Decode(strings.NewReader(armored))
	if err != nil {
		return ""
	}
	p, err := packet.Read(block.Body)
	if err != nil {
		return ""
	}
	_, _ = io.Copy(io.Discard, block.Body)
	s, ok := p.(*packet.Signature)
	if !ok {
		return ""
	}
	switch {
	case len(s.IssuerFingerprint) > 0:
		return fmt.Sprintf(" (key %X)", s.IssuerFingerprint)
	case s.IssuerKeyId != nil:
		return fmt.Sprintf(" (key ID %016X)", *s.IssuerKeyId)
	}
	return ""
}

func describe(e *openpgp.Entity) string {
	if e == nil || e.PrimaryKey == nil {
		return "unknown signer"
	}
	fp := fmt.Sprintf("%X", e.PrimaryKey.Fingerprint)
	if id := e.PrimaryIdentity(); id != nil && id.Name != "" {
		return id.Name + " (" + fp + ")"
	}
	return fp
}
