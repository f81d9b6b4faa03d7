// Package config loads the IdP's one YAML configuration file.
//
// Loading is strict and complete:
//  1. the file is parsed into a YAML node tree;
//  2. a scalar whose whole value is ${NAME} is replaced by the environment
//     variable NAME (nothing else is expanded, so a '$' inside a password is
//     never mangled);
//  3. every key is checked against the configuration types: an unknown key
//     is a problem naming its full path and the closest known key;
//  4. the tree is decoded; each `xxx_file` key is read into its sibling
//     `xxx` (a secret kept in a file, trailing newline removed);
//  5. defaults are applied, then every section validates itself, and all
//     problems are reported at once, each with its key path and a fix.
package config
