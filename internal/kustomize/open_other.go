//go:build !unix

package kustomize

const noFollow = 0
