package ldapdemo

import "testing"

func TestPasswordMatches(t *testing.T) {
	// The hashed values come from independent tools: {SSHA} from OpenLDAP's
	// slappasswd, {SSHA256} and {SHA512} from Python's hashlib.
	const (
		sshaSecret   = "{SSHA}raT6BtjAr63dp+O9NCzQIuM7dWLWf9mg"                                                           // Secret!1
		sshaKorean   = "{SSHA}mnul2S/W9c7gVQ7vJ2F+zWjOBtQFEZQ8"                                                           // 비밀번호
		ssha256      = "{SSHA256}vu0DQHiH8b2cS09XtWn4jXs6RNxhIy+vyRugGYQ3gj8BAgMEBQYHCA=="                                // Secret!1
		sha512Secret = "{SHA512}VTDSZYZlQB0AoyCkVmwKtWeWOH5INVPTUi1k0Jnk3l+D3gjNux3zNa2RvMFe52dOFa8X9hi8LHX1zDYCvGw2PQ==" // Secret!1
	)
	tests := []struct {
		name     string
		stored   []string
		password string
		want     bool
	}{
		{"plaintext", []string{"demo1234"}, "demo1234", true},
		{"plaintext wrong", []string{"demo1234"}, "demo12345", false},
		{"plaintext is case-sensitive", []string{"Minsu!2345"}, "minsu!2345", false},
		{"plaintext prefix", []string{"demo1234"}, "demo", false},
		{"ssha", []string{sshaSecret}, "Secret!1", true},
		{"ssha lower-case scheme", []string{"{ssha}raT6BtjAr63dp+O9NCzQIuM7dWLWf9mg"}, "Secret!1", true},
		{"ssha wrong", []string{sshaSecret}, "Secret!2", false},
		{"ssha is not plaintext", []string{sshaSecret}, sshaSecret, false},
		{"ssha utf-8", []string{sshaKorean}, "비밀번호", true},
		{"ssha256", []string{ssha256}, "Secret!1", true},
		{"ssha256 wrong", []string{ssha256}, "secret!1", false},
		{"sha512", []string{sha512Secret}, "Secret!1", true},
		{"second value", []string{"other", sshaSecret}, "Secret!1", true},
		{"no values", nil, "", false},
		{"empty password never matches a hash", []string{sshaSecret}, "", false},
		{"brace without scheme is plaintext", []string{"{x"}, "{x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := passwordMatches(tt.stored, tt.password); got != tt.want {
				t.Errorf("passwordMatches(%q, %q) = %v, want %v", tt.stored, tt.password, got, tt.want)
			}
		})
	}
}
