package ldapdemo

import (
	"reflect"
	"strings"
	"testing"
)

func TestDemoDescription(t *testing.T) {
	d := loadDemo(t)
	if got := d.BaseDN(); got != base {
		t.Errorf("BaseDN = %q, want %q", got, base)
	}
	dn, pw := d.ServiceAccount()
	if dn != serviceDN || pw != servicePW {
		t.Errorf("ServiceAccount = %q, %q; want %q, %q", dn, pw, serviceDN, servicePW)
	}
	want := []Account{
		{Username: "demo", Password: "demo1234", Name: "김데모", Mail: "demo@demo.example", DN: demoDN, Groups: []string{"sso-users"}},
		{Username: "kim.minsu", Password: "Minsu!2345", Name: "김민수", Mail: "minsu.kim@demo.example", DN: minsuDN, Groups: []string{"sso-users", "it-admins"}},
		{Username: "lee.jiwon", Password: "Jiwon!2345", Name: "이지원", Mail: "jiwon.lee@demo.example", DN: jiwonDN},
		{Username: obrienUID, Password: obrienPass, Name: "오브라이언", Mail: "obrien@demo.example", DN: obrienDN, Groups: []string{"sso-users"}},
	}
	got := d.Accounts()
	for i := range got {
		if got[i].Description == "" {
			t.Errorf("account %q has no description", got[i].Username)
		}
		got[i].Description = ""
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Accounts =\n%+v\nwant\n%+v", got, want)
	}

	// Accounts returns copies: a caller cannot change the directory.
	got[0].Groups[0] = "changed"
	if d.Accounts()[0].Groups[0] != "sso-users" {
		t.Error("Accounts shares its slices with the directory")
	}
}

func TestDemoPasswordsBind(t *testing.T) {
	// Every printed demo login must really work against the directory.
	d := loadDemo(t)
	for _, a := range d.Accounts() {
		e, ok := d.lookup(a.DN)
		if !ok || !passwordMatches(e.passwords, a.Password) {
			t.Errorf("demo account %q: password does not match its entry", a.Username)
		}
	}
}

func TestLoadAccountsRules(t *testing.T) {
	d := loadString(t, `dn: dc=x
objectClass: dcObject
dc: x

dn: uid=hashed,dc=x
objectClass: inetOrgPerson
uid: hashed
cn: Hashed
userPassword: {SSHA}raT6BtjAr63dp+O9NCzQIuM7dWLWf9mg

dn: uid=nopw,dc=x
objectClass: inetOrgPerson
uid: nopw
cn: No Password

dn: cn=nouid,dc=x
objectClass: inetOrgPerson
cn: nouid
userPassword: secret

dn: uid=plain,dc=x
objectClass: INETORGPERSON
UID: plain
cn: Plain
userPassword: {SSHA}raT6BtjAr63dp+O9NCzQIuM7dWLWf9mg
userPassword: plain-secret
`)
	got := d.Accounts()
	if len(got) != 1 || got[0].Username != "plain" || got[0].Password != "plain-secret" {
		t.Errorf("Accounts = %+v, want only uid=plain with its plaintext password", got)
	}
	if dn, pw := d.ServiceAccount(); dn != "" || pw != "" {
		t.Errorf("ServiceAccount = %q, %q; want none", dn, pw)
	}
}

func TestLoadErrors(t *testing.T) {
	const suffix = "dn: dc=x\nobjectClass: dcObject\ndc: x\n\n"
	tests := []struct {
		name, ldif, want string
	}{
		{"empty", "# nothing\n", "no entries"},
		{"not ldif", "this is not ldif\n", "parse ldif"},
		{"changetype", suffix + "dn: cn=a,dc=x\nchangetype: add\ncn: a\n", "content records"},
		{"bad dn", "dn: not a dn\ncn: a\n", "invalid dn"},
		{"duplicate in other case", suffix + "dn: cn=a,dc=x\ncn: a\n\ndn: CN=A, DC=X\ncn: a\n", "twice"},
		{"missing parent", suffix + "dn: cn=a,ou=missing,dc=x\ncn: a\n", "parent"},
		{"second root", suffix + "dn: dc=y\ndc: y\n", "parent"},
		{"unsupported scheme", suffix + "dn: cn=a,dc=x\ncn: a\nuserPassword: {CRYPT}abc\n", "not supported"},
		{"truncated hash", suffix + "dn: cn=a,dc=x\ncn: a\nuserPassword: {SSHA}AAAA\n", "bytes"},
		{"bad base64", suffix + "dn: cn=a,dc=x\ncn: a\nuserPassword: {SHA}!!!\n", "base64"},
		{"two service accounts", suffix +
			"dn: cn=a,dc=x\nobjectClass: simpleSecurityObject\ncn: a\nuserPassword: a\n\n" +
			"dn: cn=b,dc=x\nobjectClass: simpleSecurityObject\ncn: b\nuserPassword: b\n", "service account"},
		{"hashed service account", suffix +
			"dn: cn=a,dc=x\nobjectClass: simpleSecurityObject\ncn: a\nuserPassword: {SSHA}raT6BtjAr63dp+O9NCzQIuM7dWLWf9mg\n", "plaintext"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(strings.NewReader(tt.ldif))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "ldapdemo: ") {
				t.Fatalf("Load error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestLoadFileMissing(t *testing.T) {
	if _, err := LoadFile(t.TempDir() + "/missing.ldif"); err == nil {
		t.Fatal("LoadFile of a missing file succeeded")
	}
}

func TestNormaliseDN(t *testing.T) {
	same := [][2]string{
		{"uid=demo,ou=people,dc=demo,dc=example", "UID=Demo, OU=People, DC=demo,DC=EXAMPLE"},
		{"cn=a+sn=b,dc=x", "sn=B+cn=A,dc=x"},
		{`cn=a\,b,dc=x`, `cn=a\2cb,dc=x`},
		{"cn=Kim  Minsu,dc=x", "cn=kim minsu,dc=x"},
	}
	for _, p := range same {
		a, errA := normaliseDN(p[0])
		b, errB := normaliseDN(p[1])
		if errA != nil || errB != nil || !reflect.DeepEqual(a, b) {
			t.Errorf("normaliseDN(%q) = %q, %v; normaliseDN(%q) = %q, %v; want equal", p[0], a, errA, p[1], b, errB)
		}
	}
	different := [][2]string{
		{`cn=a\,b,dc=x`, "cn=a,cn=b,dc=x"},
		{"cn=a+sn=b,dc=x", "cn=a,sn=b,dc=x"},
		{"cn=a,dc=x", "sn=a,dc=x"},
	}
	for _, p := range different {
		a, _ := normaliseDN(p[0])
		b, _ := normaliseDN(p[1])
		if reflect.DeepEqual(a, b) {
			t.Errorf("normaliseDN(%q) == normaliseDN(%q) = %q", p[0], p[1], a)
		}
	}
}
