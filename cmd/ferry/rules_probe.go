package main

import (
	"context"
	"io"
	"os"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/rules"
	"github.com/ferry-migrate/ferry/store"
	"github.com/spf13/cobra"
)

func (rc *rulesCmd) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate",
		Short: "Check the rules strictly, including mirror loops; print warnings",
		Long: `Parse the rules of the config file strictly (unknown fields, wrong types, forbidden
headers, more than 5 rules are errors naming the rule, field and line), refuse an
origin that points back at the target bucket or at serve's listen address (a
mirror loop), and print warnings such as headers.pass_all passing the client's
Host header.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return rc.done(rc.source().Validate())
		},
	}
}

func (rc *rulesCmd) testCmd() *cobra.Command {
	var headers []string
	var query string
	var fetch bool
	c := &cobra.Command{
		Use:   "test KEY",
		Short: "Show which rule matches KEY and the exact origin request a fill would send",
		Long: `Explain what serve would do for a GET of KEY that the target does not have:
which rule matches (and why a rule whose when_headers do not hold is skipped),
the exact origin URL and headers of the fill for each origin in failover order
(after key rewriting and the header policy), and the rule's failover_on,
pass_status and store settings. --header and --query stand for the client's
request. With --fetch, send that request to the origin as a HEAD (10 s timeout)
and print the answer; the exit code is 1 when the origin does not answer 2xx
(or 3xx with follow_redirects: false).

Example:
  ferry rules test image/a.jpg --header "a-header: 111" --query "v=2" --fetch

` + exitCodesHelp,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			a := rc.a
			key := args[0]
			set, err := loadRules(a)
			if err != nil {
				return err
			}
			client, err := rules.ParseHeaders(headers)
			if err != nil {
				return err
			}
			w := a.stdout
			r, req, err := set.Explain(w, key, client, query, store.Redact)
			if err != nil || r == nil || !fetch {
				return err
			}
			return fetchOrigin(cmd.Context(), a, w, req, mirror.Request{Key: key, Rules: set, Header: client, RawQuery: query})
		},
	}
	f := c.Flags()
	f.StringArrayVarP(&headers, "header", "H", nil, `a client request header "Name: value" (repeatable)`)
	f.StringVar(&query, "query", "", "the client's query string (forwarded with pass_query_string)")
	f.BoolVar(&fetch, "fetch", false, "send the request to the origin as a HEAD and print its status")
	return c
}

// fetchOrigin is rules test --fetch (mirror.Check), with serve's fetch
// settings.
func fetchOrigin(ctx context.Context, a *app, w io.Writer, req *rules.Request, mr mirror.Request) error {
	fo, err := fetchOptions(a.cfg, a.log)
	if err != nil {
		return err
	}
	return mirror.Check(ctx, fo, req, mr, w)
}

func (rc *rulesCmd) exportCmd() *cobra.Command {
	var format, output string
	c := &cobra.Command{
		Use:   "export --format jdcloud|aliyun",
		Short: "Write the rules in a cloud's built-in mirror format (JD Cloud JSON, Alibaba XML)",
		Long: `Write the rules as the body of a cloud object store's own mirror (back-to-origin)
configuration, so they can move between ferry and the cloud's built-in mirror:

  jdcloud  JD Cloud OSS backSource API body (JSON): backSourceRules[] with
           condition.keyPrefixEquals, address{protocol, hostName,
           replaceKeyPrefixWith, replaceKeyWith}, allowQueryString,
           followRedirects, headerRule{allowAllHeaders, allowHeaders,
           notAllowHeaders, setHeaders}
  aliyun   Alibaba Cloud OSS RoutingRules (XML) with Mirror redirects:
           MirrorURL, MirrorPassQueryString, MirrorFollowRedirect, MirrorHeaders

A field the format cannot hold is an error naming the rule and the field when
it changes what is fetched, from where or what is stored (key_suffix,
when_headers, more origins or failover_on than the format has, pass_status and
store: false in jdcloud; a Host per origin and bucket origins in both), and a
warning otherwise (name, mirror_head). See docs/rules.md for the mapping.

` + exitCodesHelp,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			set, err := loadRules(rc.a)
			if err != nil {
				return err
			}
			data, warn, err := rules.Export(format, set.Rules)
			if err != nil {
				return usagef("rules export: %w", err)
			}
			rc.warn(warn)
			if output == "" || output == "-" {
				_, err = rc.a.stdout.Write(data)
				return err
			}
			return rules.WriteFileAtomic(output, data)
		},
	}
	c.Flags().StringVar(&format, "format", "", "jdcloud or aliyun (required)")
	c.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	return c
}

func (rc *rulesCmd) importCmd() *cobra.Command {
	var format string
	var replace, appendRules bool
	c := &cobra.Command{
		Use:   "import --format jdcloud|aliyun FILE",
		Short: "Read rules from a cloud's mirror configuration (FILE or - for stdin)",
		Long: `Read the rules of a cloud object store's own mirror configuration (see
ferry rules export) into the config file (created when there is none). Rules
that are not mirror rules (e.g. aliyun External redirects) are skipped with a
warning. When the config file already has rules, say whether to --replace them
or --append to them. The imported rules are validated like any other; invalid
input leaves the file unchanged.

` + exitCodesHelp,
		Args:        usageArgs(cobra.ExactArgs(1)),
		Annotations: map[string]string{"creates-config": "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if replace && appendRules {
				return usagef("rules import: --replace and --append exclude each other")
			}
			var data []byte
			var err error
			if args[0] == "-" {
				data, err = io.ReadAll(rc.a.stdin)
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return usagef("rules import: %w", err)
			}
			res, err := rc.source().Import(format, args[0], data, replace, appendRules)
			if res == nil {
				return err
			}
			rc.warn(res.Warnings)
			return rc.done(res.Set, res.Done, err)
		},
	}
	c.Flags().StringVar(&format, "format", "", "jdcloud or aliyun (required)")
	c.Flags().BoolVar(&replace, "replace", false, "replace the existing rules")
	c.Flags().BoolVar(&appendRules, "append", false, "append to the existing rules")
	return c
}
