package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// SimpleSAMLphp as installed by the Debian package, run by an Apache of
// our own: `apache2 -f <our conf> -DFOREGROUND` with every file (Apache
// conf, SimpleSAMLphp config, metadata, sessions, logs) in our temporary
// directory; nothing system-wide is read except the packages' files.
const (
	sspWWW      = "/usr/share/simplesamlphp/www"
	apacheBin   = "/usr/sbin/apache2"
	apacheMods  = "/usr/lib/apache2/modules"
	sspEntityID = "https://ssp.bench.test/idp"
	// Prefork workers: enough for the highest concurrency with kept-alive
	// connections, all started up front so that no cell pays for forks.
	apacheWorkers = 96
)

type sspIdP struct {
	URL       string
	cmd       *exec.Cmd
	ColdStart time.Duration
}

func phpString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// sspFiles are the SimpleSAMLphp config, authsources and metadata.
func sspFiles(dir, ldapURL string, port int) map[string]string {
	host, portStr, _ := strings.Cut(strings.TrimPrefix(ldapURL, "ldap://"), ":")
	return map[string]string{
		"config/config.php": fmt.Sprintf(`<?php
$config = [
    'baseurlpath' => 'http://127.0.0.1:%d/simplesaml/',
    'certdir' => %s,
    'loggingdir' => %s,
    'datadir' => %s,
    'tempdir' => %s,
    'metadatadir' => %s,
    'secretsalt' => 'idpbench-salt-%d',
    'auth.adminpassword' => 'idpbench-admin-%d',
    'technicalcontact_name' => 'idpbench',
    'technicalcontact_email' => 'bench@bench.test',
    'timezone' => 'UTC',
    'logging.level' => SimpleSAML\Logger::NOTICE,
    'logging.handler' => 'file',
    'logging.logfile' => 'simplesamlphp.log',
    'enable.saml20-idp' => true,
    'module.enable' => ['exampleauth' => false, 'core' => true, 'saml' => true, 'ldap' => true],
    'store.type' => 'phpsession',
    'session.phpsession.savepath' => %s,
    'session.cookie.secure' => false,
    'session.cookie.samesite' => null,
    'session.duration' => 8 * 60 * 60,
];
`, port, phpString(dir+"/cert/"), phpString(dir+"/log/"), phpString(dir+"/data/"), phpString(dir+"/tmp"),
			phpString(dir+"/metadata/"), time.Now().UnixNano(), time.Now().UnixNano(), phpString(dir+"/sessions")),
		"config/authsources.php": fmt.Sprintf(`<?php
$config = [
    'admin' => ['core:AdminPassword'],
    'ldap-bench' => [
        'ldap:LDAP',
        'hostname' => %s,
        'port' => %s,
        'enable_tls' => false,
        'timeout' => 10,
        'attributes' => ['uid', 'mail', 'cn'],
        'search.enable' => true,
        'search.base' => %s,
        'search.filter' => '(objectClass=inetOrgPerson)',
        'search.attributes' => ['uid', 'mail'],
        'search.username' => %s,
        'search.password' => %s,
    ],
];
`, phpString(host), portStr, phpString(peopleDN), phpString(serviceDN), phpString(servicePass)),
		"metadata/saml20-idp-hosted.php": fmt.Sprintf(`<?php
$metadata[%s] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'saml.key',
    'certificate' => 'saml.pem',
    'auth' => 'ldap-bench',
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'saml20.sign.response' => true,
    'saml20.sign.assertion' => true,
];
`, phpString(sspEntityID)),
		"metadata/saml20-sp-remote.php": fmt.Sprintf(`<?php
$metadata[%s] = [
    'AssertionConsumerService' => %s,
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
    'simplesaml.nameidattribute' => 'mail',
    'simplesaml.attributes' => false,
];
`, phpString(spEntityID), phpString(spACS)),
	}
}

func apacheConf(dir string, port int, runAs string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "ServerRoot %q\nServerName 127.0.0.1\nListen 127.0.0.1:%d\n", dir, port)
	fmt.Fprintf(&b, "PidFile %q\nDefaultRuntimeDir %q\nMutex file:%s default\nErrorLog %q\nLogLevel warn\n",
		dir+"/apache.pid", dir, dir, dir+"/log/apache-error.log")
	if runAs != "" {
		fmt.Fprintf(&b, "User %s\nGroup %s\n", runAs, runAs)
	}
	for _, m := range []string{"mpm_prefork", "authz_core", "alias", "mime", "dir", "env"} {
		fmt.Fprintf(&b, "LoadModule %s_module %s/mod_%s.so\n", m, apacheMods, m)
	}
	fmt.Fprintf(&b, "LoadModule php_module %s/libphp8.2.so\n", apacheMods)
	fmt.Fprintf(&b, `TypesConfig /etc/mime.types
StartServers %[1]d
MinSpareServers %[1]d
MaxSpareServers %[1]d
ServerLimit %[1]d
MaxRequestWorkers %[1]d
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 100
KeepAliveTimeout 5
DocumentRoot %[2]q
SetEnv SIMPLESAMLPHP_CONFIG_DIR %[3]q
Alias /simplesaml %[2]s
<Directory %[2]q>
  Require all granted
  DirectoryIndex index.php
</Directory>
<FilesMatch "\.php$">
  SetHandler application/x-httpd-php
</FilesMatch>
`, apacheWorkers, sspWWW, dir+"/config")
	return b.String()
}

// startSSP writes the configuration and starts Apache pinned to cpus.
func startSSP(ctx context.Context, dir, cpus, ldapURL, keyFile, certFile string) (*sspIdP, error) {
	for _, f := range []string{apacheBin, sspWWW, apacheMods + "/libphp8.2.so", "/usr/share/simplesamlphp/modules/ldap"} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("idpbench: %s missing: apt-get install simplesamlphp apache2 libapache2-mod-php php-ldap (make bench-compare does)", f)
		}
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// As root, Apache's workers run as www-data and must own what they write.
	uid, gid, runAs := -1, -1, ""
	if os.Geteuid() == 0 {
		u, err := user.Lookup("www-data")
		if err != nil {
			return nil, fmt.Errorf("idpbench: user www-data: %w", err)
		}
		uid, _ = strconv.Atoi(u.Uid)
		gid, _ = strconv.Atoi(u.Gid)
		runAs = "www-data"
	}
	for _, d := range []string{"", "config", "metadata", "cert", "log", "data", "tmp", "sessions"} {
		p := filepath.Join(dir, d)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, err
		}
		if uid >= 0 && (d == "log" || d == "data" || d == "tmp" || d == "sessions") {
			_ = os.Chown(p, uid, gid)
		}
	}
	files := sspFiles(dir, ldapURL, port)
	files["apache.conf"] = apacheConf(dir, port, runAs)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	for src, dst := range map[string]string{keyFile: "cert/saml.key", certFile: "cert/saml.pem"} {
		b, err := os.ReadFile(src)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, dst)
		if err := os.WriteFile(p, b, 0o640); err != nil {
			return nil, err
		}
		if uid >= 0 {
			_ = os.Chown(p, 0, gid)
		}
	}
	s := &sspIdP{URL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	logf, err := os.Create(filepath.Join(dir, "apache.out"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.cmd = pinned(cpus, apacheBin, "-f", filepath.Join(dir, "apache.conf"), "-DFOREGROUND")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	dieWithParent(s.cmd)
	start := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("idpbench: start apache2: %w", err)
	}
	if err := waitReady(ctx, s.URL+"/simplesaml/saml2/idp/metadata.php", 30*time.Second); err != nil {
		s.stop()
		out, _ := os.ReadFile(filepath.Join(dir, "apache.out"))
		elog, _ := os.ReadFile(filepath.Join(dir, "log", "apache-error.log"))
		return nil, fmt.Errorf("idpbench: SimpleSAMLphp: %w\n%s%s", err, out, elog)
	}
	s.ColdStart = time.Since(start)
	return s, nil
}

func (s *sspIdP) pid() int { return s.cmd.Process.Pid }

// stop ends Apache: SIGTERM to the parent stops its workers.
func (s *sspIdP) stop() { stopProcess(s.cmd) }
