package config

import "rxpool/internal/secret"

// Secret is a configured value that never prints (API keys, passwords, the
// admin token): the configuration's name for secret.Secret, which the
// packages that send it use without importing config.
type Secret = secret.Secret
