package reconciler

import "time"

// The ways a sync decides that a cluster took a revision (fleet.rollout.health), and the defaults
// where fleet.rollout leaves them unset: copies of schemas.RolloutDefaults (defaults.cue), held equal
// to it by reconciler/fleet's TestDefaultsAreTheCUEDefaults. They live here, not in reconciler/fleet,
// so that the agent (which links no CUE) reads a rollout as the controller and `vmo-cue sync` do.
const (
	// HealthKStatus waits until kstatus (and WaitHealthy's VM and DataVolume rules) says Current.
	HealthKStatus = "kstatus"
	// HealthAccepted counts a cluster done when the API server accepted every object.
	HealthAccepted = "accepted"

	DefaultHealth        = HealthKStatus
	DefaultHealthTimeout = 5 * time.Minute
)

// RolloutHealth reads the health check and its timeout from a fleet's rollout settings (as decoded
// from CUE); what is unset or malformed keeps its default (vet has already refused a malformed one).
func RolloutHealth(rollout map[string]any) (health string, timeout time.Duration) {
	health, timeout = DefaultHealth, DefaultHealthTimeout
	if h, ok := rollout["health"].(string); ok {
		health = h
	}
	if s, ok := rollout["healthTimeout"].(string); ok {
		if d, err := time.ParseDuration(s); err == nil {
			timeout = d
		}
	}
	return health, timeout
}
