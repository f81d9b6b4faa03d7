package ldapauth

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/ncp-sso/idp/idp"
)

// ADSubcode is the Win32 error code Active Directory puts in the
// diagnostic message of a refused bind ("... AcceptSecurityContext error,
// data 773, v4563"), in lower-case hex as AD writes it.
type ADSubcode string

// The bind sub-codes Active Directory (and Samba) send.
const (
	ADUserNotFound        ADSubcode = "525"
	ADInvalidCredentials  ADSubcode = "52e"
	ADLogonHours          ADSubcode = "530"
	ADWorkstation         ADSubcode = "531"
	ADPasswordExpired     ADSubcode = "532"
	ADAccountDisabled     ADSubcode = "533"
	ADTooManySIDs         ADSubcode = "568"
	ADAccountExpired      ADSubcode = "701"
	ADMustChangePassword  ADSubcode = "773"
	ADAccountLockedOut    ADSubcode = "775"
	adNoSubcode           ADSubcode = ""
	adSubcodeExplainUnset           = "no Active Directory sub-code"
)

// adSubcodeRE finds the sub-code in AD's diagnostic message.
var adSubcodeRE = regexp.MustCompile(`AcceptSecurityContext error, data ([0-9a-fA-F]+)`)

// subcodeOf extracts the AD sub-code of a bind error, or "" when the error
// carries none (another directory, or not a refused bind).
func subcodeOf(err error) ADSubcode {
	var le *ldap.Error
	if err == nil || !errors.As(err, &le) || le.Err == nil {
		return adNoSubcode
	}
	m := adSubcodeRE.FindStringSubmatch(le.Err.Error())
	if m == nil {
		return adNoSubcode
	}
	return ADSubcode(strings.ToLower(m[1]))
}

// subcodeInfo says what a sub-code means for the login and for people.
type subcodeInfo struct {
	// state is the AccountError state; "" means the login fails exactly
	// like a wrong password (unknown user, wrong password, locked out).
	state  idp.AccountState
	reason string // for the admin's log: snake_case
	en, ko string // for `idp ldap test`
}

var subcodes = map[ADSubcode]subcodeInfo{
	ADUserNotFound:       {"", "user_not_found", "the directory does not know this user", "디렉터리에 없는 사용자입니다"},
	ADInvalidCredentials: {"", "wrong_password", "wrong password", "비밀번호가 틀렸습니다"},
	ADLogonHours:         {idp.StateRestricted, "logon_hours", "the password is right, but logon hours forbid signing in now", "비밀번호는 맞지만 로그인 허용 시간이 아닙니다"},
	ADWorkstation:        {idp.StateRestricted, "workstation_restriction", "the password is right, but the account may only sign in from certain workstations", "비밀번호는 맞지만 지정된 PC에서만 로그인할 수 있는 계정입니다"},
	ADPasswordExpired:    {idp.StatePasswordExpired, "password_expired", "the password is right but has expired; the user must change it", "비밀번호는 맞지만 사용 기간이 지났습니다. 비밀번호를 변경해야 합니다"},
	ADAccountDisabled:    {idp.StateDisabled, "account_disabled", "the password is right but the account is disabled", "비밀번호는 맞지만 사용 중지된 계정입니다"},
	ADTooManySIDs:        {idp.StateRestricted, "too_many_sids", "the user is in too many groups for a logon token", "사용자가 속한 그룹이 너무 많아 로그인 토큰을 만들 수 없습니다"},
	ADAccountExpired:     {idp.StateAccountExpired, "account_expired", "the password is right but the account has expired", "비밀번호는 맞지만 계정 사용 기간이 끝났습니다"},
	ADMustChangePassword: {idp.StateMustChangePassword, "must_change_password", "the password is right but must be changed at next logon", "비밀번호는 맞지만 다음 로그인 때 변경해야 합니다(초기 비밀번호)"},
	ADAccountLockedOut:   {"", "locked_out", "the account is locked out after too many wrong passwords (shown to the user as a wrong password)", "잘못된 비밀번호를 여러 번 입력해 계정이 잠겼습니다(사용자에게는 비밀번호 오류로 보입니다)"},
}

// ExplainSubcode describes an AD bind sub-code in English and Korean, for
// diagnostics. Unknown codes are described as such.
func ExplainSubcode(code ADSubcode) (en, ko string) {
	if code == adNoSubcode {
		return adSubcodeExplainUnset, "Active Directory 세부 코드 없음"
	}
	if info, ok := subcodes[code]; ok {
		return info.en, info.ko
	}
	return "unknown sub-code " + string(code), "알 수 없는 세부 코드 " + string(code)
}

// userAccountControl flags (MS-ADTS 2.2.16).
const (
	uacAccountDisable   = 0x0002
	uacLockout          = 0x0010
	uacPasswordExpired  = 0x800000
	adNeverExpires      = "9223372036854775807"
	adFiletimeEpochDiff = 116444736000000000 // 100 ns from 1601 to 1970
)

// adStateAttributes are read with the preset so that an account the bind
// let through (a proxy, AD LDS) is still refused when AD marks it unusable.
// msDS-User-Account-Control-Computed carries LOCKOUT and PASSWORD_EXPIRED,
// which AD no longer keeps in userAccountControl (Samba lets a locked
// account's simple bind succeed; this is how it is still refused).
var adStateAttributes = []string{"userAccountControl", "msDS-User-Account-Control-Computed", "accountExpires", "pwdLastSet"}

// adEntryState checks the account state attributes of an entry whose
// password was just verified. It returns the state ("" when usable) and
// whether the account is locked (which must look like a wrong password).
func adEntryState(e *ldap.Entry, now time.Time) (state idp.AccountState, locked bool, reason string) {
	uac, _ := strconv.ParseInt(e.GetEqualFoldAttributeValue("userAccountControl"), 10, 64)
	computed, _ := strconv.ParseInt(e.GetEqualFoldAttributeValue("msDS-User-Account-Control-Computed"), 10, 64)
	uac |= computed
	switch {
	case uac&uacAccountDisable != 0:
		return idp.StateDisabled, false, "userAccountControl ACCOUNTDISABLE"
	case uac&uacLockout != 0:
		return "", true, "userAccountControl LOCKOUT"
	}
	if exp := e.GetEqualFoldAttributeValue("accountExpires"); exp != "" && exp != "0" && exp != adNeverExpires {
		if ft, err := strconv.ParseInt(exp, 10, 64); err == nil && now.After(filetime(ft)) {
			return idp.StateAccountExpired, false, "accountExpires in the past"
		}
	}
	if uac&uacPasswordExpired != 0 {
		return idp.StatePasswordExpired, false, "userAccountControl PASSWORD_EXPIRED"
	}
	if e.GetEqualFoldAttributeValue("pwdLastSet") == "0" {
		return idp.StateMustChangePassword, false, "pwdLastSet is 0"
	}
	return "", false, ""
}

// filetime converts a Windows FILETIME (100 ns since 1601) to a time.
func filetime(ft int64) time.Time {
	return time.Unix(0, 0).Add(time.Duration(ft-adFiletimeEpochDiff) * 100)
}

// binaryAttributes are rendered as text when mapped onto an Identity.
var binaryAttributes = map[string]func([]byte) string{
	"objectguid":           guidString,
	"msds-consistencyguid": guidString,
	"objectsid":            sidString,
}

// guidString renders a 16-byte GUID as AD does (MS-DTYP 2.3.4.2): the
// first three fields little-endian, the rest in byte order, e.g.
// "184e7561-79bf-42bf-a06e-aacd1c748c21". Other lengths give hex.
func guidString(b []byte) string {
	if len(b) != 16 {
		return hex.EncodeToString(b)
	}
	var g [16]byte
	binary.BigEndian.PutUint32(g[0:], binary.LittleEndian.Uint32(b[0:]))
	binary.BigEndian.PutUint16(g[4:], binary.LittleEndian.Uint16(b[4:]))
	binary.BigEndian.PutUint16(g[6:], binary.LittleEndian.Uint16(b[6:]))
	copy(g[8:], b[8:])
	h := hex.EncodeToString(g[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// sidString renders a binary SID (MS-DTYP 2.4.2.2) as "S-1-5-21-...".
// Malformed input gives hex.
func sidString(b []byte) string {
	if len(b) < 8 || b[0] != 1 || len(b) != 8+4*int(b[1]) {
		return hex.EncodeToString(b)
	}
	var auth uint64
	for _, x := range b[2:8] {
		auth = auth<<8 | uint64(x)
	}
	var sb strings.Builder
	sb.WriteString("S-1-" + strconv.FormatUint(auth, 10))
	for i := range int(b[1]) {
		sb.WriteString("-" + strconv.FormatUint(uint64(binary.LittleEndian.Uint32(b[8+4*i:])), 10))
	}
	return sb.String()
}

// attrValues returns an attribute's values, binary ones rendered as text.
func attrValues(e *ldap.Entry, name string) []string {
	base, _, _ := strings.Cut(name, ";")
	if render, ok := binaryAttributes[strings.ToLower(base)]; ok {
		var out []string
		for _, raw := range e.GetEqualFoldRawAttributeValues(name) {
			out = append(out, render(raw))
		}
		return out
	}
	return e.GetEqualFoldAttributeValues(name)
}
