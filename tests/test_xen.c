/*
 * Unit tests of the Xen layer (runner/xen.c): the xl configuration against the
 * keys xl.cfg(5) documents and back through xen_xl_parse(), quoting and what is
 * refused, xl create/destroy through a stand-in `xl` on $PATH (there is no Xen
 * host here), the libvirt XML against libvirt's schema, and the libvirt driver
 * against libvirt's built-in test driver (test:///default).
 *
 * Optional tools, each test saying when it skips a check:
 *   RIPPLE_XL_CFG_MAN  xl.cfg(5) man page (gzip'd roff); default
 *                      /usr/share/man/man5/xl.cfg.5.gz (package xen-utils-common)
 *   virt-xml-validate  libvirt-clients; xmllint (libxml2-utils) otherwise
 */
#define _GNU_SOURCE /* asprintf */
#include <check.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include "runner/xen.h"
#include "check_main.h"
#include "core/banned.h"

static char root[PATH_MAX];
static char *saved_path;

static void setup(void)
{
	const char *path = getenv("PATH");
	check_tmpdir_make(root, "xen");
	saved_path = strdup(path ? path : "/usr/bin:/bin");
}

/* Tests point $PATH at `root` to choose which `xl` is found; rm needs the real one back. */
static void teardown(void)
{
	ck_assert_int_eq(setenv("PATH", saved_path, 1), 0);
	free(saved_path);
	check_tmpdir_remove(root);
}

static const char *at(const char *rel)
{
	return check_path(root, rel);
}

static const struct xen_domain plain = {
    .name = "rp-job-42",
    .kernel = "/boot/vmlinuz-6.1.0-cloud-amd64",
    .ramdisk = "/var/tmp/ripple/job-42/initramfs.cpio",
    .cmdline = "console=hvc0 quiet panic=-1",
    .memory_mb = 256,
    .vcpus = 2,
    .console_log = "/var/tmp/ripple/job-42/console.log",
};

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;

	ck_assert_msg(f != NULL, "%s cannot be opened", path);
	ck_assert_int_ge(getdelim(&buf, &cap, '\0', f), 0);
	fclose(f);
	return buf;
}

static void spill(const char *path, const char *text, int mode)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(fputs(text, f), 0);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_eq(chmod(path, mode), 0);
}

/* The whole standard output of a shell command, its trailing newline removed; the exit status in *status. */
static char *run(const char *cmd, int *status)
{
	FILE *p = popen(cmd, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	ck_assert_ptr_nonnull(p);
	n = getdelim(&buf, &cap, '\0', p);
	if (n < 0) {
		free(buf);
		buf = strdup("");
		n = 0;
	}
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
	*status = pclose(p);
	return buf;
}

static int have(const char *program)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", program);
	return system(cmd) == 0;
}

/* ---- xl ---- */

START_TEST(test_xl_config_text)
{
	struct rp_error err = {0};
	char *text = NULL;

	ck_assert_int_eq(xen_xl_config(&plain, &text, &err), 0);
	ck_assert_str_eq(text, "# xl.cfg(5) domain configuration written by ripple: a throwaway PVH guest.\n"
			       "# ripple: console_log = \"/var/tmp/ripple/job-42/console.log\"\n"
			       "type = \"pvh\"\n"
			       "name = \"rp-job-42\"\n"
			       "kernel = \"/boot/vmlinuz-6.1.0-cloud-amd64\"\n"
			       "ramdisk = \"/var/tmp/ripple/job-42/initramfs.cpio\"\n"
			       "extra = \"console=hvc0 quiet panic=-1\"\n"
			       "memory = 256\n"
			       "vcpus = 2\n"
			       "on_poweroff = \"destroy\"\n"
			       "on_reboot = \"destroy\"\n"
			       "on_crash = \"destroy\"\n");
	free(text);

	/* Optional fields are left out, not written empty. */
	struct xen_domain bare = {.name = "bare", .kernel = "/k", .memory_mb = 64, .vcpus = 1};
	ck_assert_int_eq(xen_xl_config(&bare, &text, &err), 0);
	ck_assert_ptr_null(strstr(text, "ramdisk"));
	ck_assert_ptr_null(strstr(text, "extra"));
	ck_assert_ptr_null(strstr(text, "console_log"));
	free(text);
}
END_TEST

/*
 * Every key written is one xl.cfg(5) documents, with the kind of value it
 * documents: a quoted STRING (the man page's item reads KEY=""...""), or a bare
 * NUMBER (KEY=MBYTES, KEY=N); type = "pvh" is an item of its own.
 */
START_TEST(test_xl_config_keys_documented)
{
	const char *man = getenv("RIPPLE_XL_CFG_MAN");
	struct rp_error err = {0};
	char *text = NULL, *roff, *cmd = NULL;
	int status, keys = 0;

	if (!man)
		man = "/usr/share/man/man5/xl.cfg.5.gz";
	if (access(man, R_OK) != 0) {
		fprintf(stderr, "test_xl_config_keys_documented: %s missing, key check skipped\n", man);
		return;
	}
	ck_assert_int_ge(asprintf(&cmd, "gzip -dc '%s'", man), 0);
	roff = run(cmd, &status);
	ck_assert_int_eq(status, 0);
	ck_assert_ptr_nonnull(strstr(roff, ".IP \"\\fBtype=\"\"pvh\"\"\\fR\""));

	ck_assert_int_eq(xen_xl_config(&plain, &text, &err), 0);
	char *p = text;
	while (*p) {
		char *eol = strchr(p, '\n'), key[64], item[128];
		size_t klen = strcspn(p, " ");
		ck_assert_ptr_nonnull(eol);
		if (*p != '#') {
			ck_assert_uint_lt(klen, sizeof(key));
			memcpy(key, p, klen);
			key[klen] = '\0';
			int quoted = p[klen + 3] == '"';
			if (quoted)
				snprintf(item, sizeof(item), ".IP \"\\fB%s=\"\"", key);
			else
				snprintf(item, sizeof(item), ".IP \"\\fB%s=", key);
			ck_assert_msg(strstr(roff, item) != NULL, "xl.cfg(5) has no item %s (line: %.*s)",
				      item, (int)(eol - p), p);
			if (!quoted) { /* a NUMBER item names its unit in capitals: memory=MBYTES, vcpus=N */
				const char *at_item = strstr(roff, item) + strlen(item);
				ck_assert_msg(*at_item >= 'A' && *at_item <= 'Z',
					      "%s is not a number in xl.cfg(5)", key);
			}
			keys++;
		}
		p = eol + 1;
	}
	ck_assert_int_eq(keys, 10);
	free(text);
	free(roff);
	free(cmd);
}
END_TEST

static void assert_same_domain(const struct xen_domain *a, const struct xen_domain *b)
{
	ck_assert_str_eq(a->name, b->name);
	ck_assert_str_eq(a->kernel, b->kernel);
	ck_assert_str_eq(a->ramdisk, b->ramdisk);
	ck_assert_str_eq(a->cmdline, b->cmdline);
	ck_assert_str_eq(a->console_log, b->console_log);
	ck_assert_uint_eq(a->memory_mb, b->memory_mb);
	ck_assert_uint_eq(a->vcpus, b->vcpus);
}

START_TEST(test_xl_round_trip_and_escapes)
{
	struct xen_domain d = plain, back;
	struct rp_error err = {0};
	char *text = NULL;

	ck_assert_int_eq(xen_xl_config(&plain, &text, &err), 0);
	ck_assert_int_eq(xen_xl_parse(text, &back, &err), 0);
	assert_same_domain(&plain, &back);
	xen_domain_release(&back);
	free(text);

	/* Quotes and backslashes are escaped by a backslash; the single quote needs none. */
	d.cmdline = "init=/init a=\"b c\" p=C:\\dir\\ 'q' \\\"";
	d.kernel = "/k \"quoted\"/vmlinuz";
	d.console_log = "/logs/it's \\here";
	ck_assert_int_eq(xen_xl_config(&d, &text, &err), 0);
	ck_assert_ptr_nonnull(
	    strstr(text, "\nextra = \"init=/init a=\\\"b c\\\" p=C:\\\\dir\\\\ 'q' \\\\\\\"\"\n"));
	ck_assert_ptr_nonnull(strstr(text, "\nkernel = \"/k \\\"quoted\\\"/vmlinuz\"\n"));
	ck_assert_ptr_nonnull(strstr(text, "\n# ripple: console_log = \"/logs/it's \\\\here\"\n"));
	ck_assert_int_eq(xen_xl_parse(text, &back, &err), 0);
	assert_same_domain(&d, &back);
	xen_domain_release(&back);
	free(text);
}
END_TEST

START_TEST(test_xl_parse_grammar)
{
	struct xen_domain d;
	struct rp_error err = {0};

	/* Single quotes, ';' separators, comments, lists, hex and octal numbers, \x escapes, later keys win.
	 */
	ck_assert_int_eq(xen_xl_parse("# a comment\n"
				      "name='first'; name = 'h0'   # trailing comment\n"
				      "type='pvh'\n"
				      "kernel = \"/boot/k\\x41\\\\\"\n"
				      "vif = [ '', 'bridge=xenbr0', [1, 0x2,], ]\n"
				      "disk = [\n  '/dev/x,raw,xvda,rw',  # inside a list\n]\n"
				      "memory = 0x100; vcpus = 010\n"
				      "extra = 'ignored'\ncmdline = \"wins\"\nextra = 'still ignored'\n",
				      &d, &err),
			 0);
	ck_assert_str_eq(d.name, "h0");
	ck_assert_str_eq(d.kernel, "/boot/kA\\");
	ck_assert_str_eq(d.cmdline, "wins");
	ck_assert_ptr_null(d.ramdisk);
	ck_assert_ptr_null(d.console_log);
	ck_assert_uint_eq(d.memory_mb, 256);
	ck_assert_uint_eq(d.vcpus, 8);
	xen_domain_release(&d);

	/* Errors name the line. */
	static const struct {
		const char *text, *msg;
	} bad[] = {
	    {"type='pvh'\nname='a'\nkernel='/k\nmemory=1\n", "xl config: line 3: unterminated string"},
	    {"type='hvm'\n",
	     "xl config: line 1: type must be \"pvh\" (ripple's guests are PVH and never restarted)"},
	    {"type='pvh'\non_reboot='restart'\n", "xl config: line 2: on_reboot must be \"destroy\" "
						  "(ripple's guests are PVH and never restarted)"},
	    {"name='a'\nkernel='/k'\nmemory=1\nvcpus=1\n",
	     "xl config: no type (ripple's guests are type = \"pvh\")"},
	    {"type='pvh'\nmemory='256'\n", "xl config: line 2: memory must be a number"},
	    {"type='pvh'\nname=\"a\" kernel=\"/k\"\n",
	     "xl config: line 2: expected a newline or ';' after the value"},
	    {"type='pvh'\n\n= 3\n", "xl config: line 3: expected a key"},
	    {"type='pvh'\nname = 'a\\q'\n", "xl config: line 2: unknown escape in a string"},
	    {"type='pvh'\nvif = [ 'a' 'b' ]\n", "xl config: line 2: expected ',' or ']' in a list"},
	    {"type='pvh'\nmemory = 99999999999\n", "xl config: line 2: number out of range"},
	    {"type='pvh'\nname='a b'\nkernel='/k'\nmemory=1\nvcpus=1\n",
	     "xen domain: name \"a b\" holds ' '; only A-Z a-z 0-9 _ . - are allowed"},
	    /* \n decodes to a newline, which a domain cannot hold. */
	    {"type='pvh'\nname='a'\nkernel='/k'\nextra='x\\ny'\nmemory=1\nvcpus=1\n",
	     "xen domain: cmdline holds a control character (0x0a) at byte 1; xl and libvirt cannot carry "
	     "it"},
	    {"type='pvh'\nname='a'\nkernel='/k'\nvcpus=1\n", "xen domain: memory_mb 0 is not in 1..1048576"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&err, 0, sizeof(err));
		ck_assert_int_eq(xen_xl_parse(bad[i].text, &d, &err), RP_EINVAL);
		ck_assert_str_eq(err.msg, bad[i].msg);
		ck_assert_ptr_null(d.name);
	}
}
END_TEST

START_TEST(test_refused_values)
{
	struct rp_error err = {0};
	char *text = (char *)"untouched", *xml = (char *)"untouched";
	struct xen_domain d = plain;

	d.cmdline = "console=hvc0\nrdinit=/evil";
	ck_assert_int_eq(xen_xl_config(&d, &text, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "xen domain: cmdline holds a control character (0x0a) at byte 12; "
				  "xl and libvirt cannot carry it");
	ck_assert_ptr_null(text);
	ck_assert_int_eq(xen_virt_xml(&d, "test", &xml, &err), RP_EINVAL);
	ck_assert_ptr_null(xml);

	d = plain;
	d.ramdisk = "/tmp/a\tb";
	ck_assert_int_eq(xen_xl_config(&d, &text, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "xen domain: ramdisk holds a control character (0x09) at byte 6; "
				  "xl and libvirt cannot carry it");

	static const struct {
		const char *name, *msg;
	} names[] = {
	    {"", "xen domain: name must be 1 to 64 bytes long"},
	    {"a b", "xen domain: name \"a b\" holds ' '; only A-Z a-z 0-9 _ . - are allowed"},
	    {"a/b", "xen domain: name \"a/b\" holds '/'; only A-Z a-z 0-9 _ . - are allowed"},
	    {"a\"b", "xen domain: name \"a\"b\" holds '\"'; only A-Z a-z 0-9 _ . - are allowed"},
	    {"caf\xc3\xa9", "xen domain: name \"caf\xc3\xa9\" holds '?'; only A-Z a-z 0-9 _ . - are allowed"},
	    {"-x", "xen domain: name \"-x\" starts with '-'"},
	    {".x", "xen domain: name \".x\" starts with '.'"},
	    {"123", "xen domain: name \"123\" is all digits; xl would read it as a domain id"},
	    {"a123456789b123456789c123456789d123456789e123456789f123456789g1234", /* 65 */
	     "xen domain: name must be 1 to 64 bytes long"},
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		d = plain;
		d.name = names[i].name;
		ck_assert_int_eq(xen_xl_config(&d, &text, &err), RP_EINVAL);
		ck_assert_str_eq(err.msg, names[i].msg);
		ck_assert_int_eq(xen_xl_destroy(names[i].name, &err), RP_EINVAL);
	}
	d = plain;
	d.name = "a123456789b123456789c123456789d123456789e123456789f123456789g123"; /* 64: fine */
	ck_assert_uint_eq(strlen(d.name), XEN_NAME_MAX);
	ck_assert_int_eq(xen_xl_config(&d, &text, &err), 0);
	free(text);

	d = plain;
	d.kernel = "";
	ck_assert_int_eq(xen_xl_config(&d, &text, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "xen domain: kernel is missing");
	d = plain;
	d.vcpus = 0;
	ck_assert_int_eq(xen_xl_config(&d, &text, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "xen domain: vcpus 0 is not in 1..512");
	d = plain;
	d.memory_mb = XEN_MEMORY_MAX_MB + 1;
	ck_assert_int_eq(xen_xl_config(&d, &text, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "xen domain: memory_mb 1048577 is not in 1..1048576");
}
END_TEST

START_TEST(test_xl_console_path)
{
	struct rp_error err = {0};
	char *path = NULL;

	ck_assert_int_eq(xen_xl_console_path(NULL, "rp-job-42", &path, &err), 0);
	ck_assert_str_eq(path, "/var/log/xen/console/guest-rp-job-42.log");
	free(path);
	ck_assert_int_eq(xen_xl_console_path("/srv/consoles", "x", &path, &err), 0);
	ck_assert_str_eq(path, "/srv/consoles/guest-x.log");
	free(path);
	ck_assert_int_eq(xen_xl_console_path(NULL, "../x", &path, &err), RP_EINVAL);
	ck_assert_ptr_null(path);
}
END_TEST

/* With no `xl` on $PATH: RP_ENOTFOUND, one line, and the configuration still written. */
START_TEST(test_xl_create_without_xl)
{
	struct rp_error err = {0};
	struct xen_domain back;
	char *text = NULL, *want = NULL;

	ck_assert_int_eq(setenv("PATH", root, 1), 0);
	ck_assert_int_eq(xen_xl_create(&plain, root, &err), RP_ENOTFOUND);
	ck_assert_str_eq(err.msg, "xl create: no `xl` in $PATH: this host has no Xen toolstack");
	text = slurp(at("rp-job-42.cfg"));
	ck_assert_int_eq(xen_xl_config(&plain, &want, &err), 0);
	ck_assert_str_eq(text, want);
	ck_assert_int_eq(xen_xl_parse(text, &back, &err), 0);
	assert_same_domain(&plain, &back);
	xen_domain_release(&back);
	ck_assert_int_eq(xen_xl_destroy("rp-job-42", &err), RP_ENOTFOUND);
	ck_assert_str_eq(err.msg, "xl destroy: no `xl` in $PATH: this host has no Xen toolstack");
	free(text);
	free(want);
}
END_TEST

/* A stand-in `xl` that records its argv: the exact command lines, no shell in between. */
START_TEST(test_xl_create_destroy_argv)
{
	struct rp_error err = {0};
	char *script = NULL, *args, *want = NULL;

	ck_assert_int_ge(
	    asprintf(&script,
		     "#!/bin/sh\n"
		     "for a in \"$@\"; do printf '<%%s>' \"$a\"; done >> '%s/args'\n"
		     "echo >> '%s/args'\n"
		     "[ \"$1\" = destroy ] && [ \"$2\" = gone ] && { echo 'no such domain' >&2; exit 1; }\n"
		     "exit 0\n",
		     root, root),
	    0);
	spill(at("xl"), script, 0755);
	ck_assert_int_eq(setenv("PATH", root, 1), 0);

	ck_assert_int_eq(xen_xl_create(&plain, root, &err), 0);
	ck_assert_int_eq(xen_xl_destroy("rp-job-42", &err), 0);
	ck_assert_int_eq(xen_xl_destroy("gone", &err), RP_EIO);
	ck_assert_str_eq(err.msg, "xl destroy: exited with 1");
	args = slurp(at("args"));
	ck_assert_int_ge(
	    asprintf(&want, "<create><%s/rp-job-42.cfg>\n<destroy><rp-job-42>\n<destroy><gone>\n", root), 0);
	ck_assert_str_eq(args, want);
	ck_assert_int_eq(access(at("rp-job-42.xl-create.log"), R_OK), 0);
	free(args);
	free(want);

	/* A failing `xl create` is RP_EIO naming its log. */
	spill(at("xl"), "#!/bin/sh\necho 'libxl: error: no Xen' >&2\nexit 3\n", 0755);
	ck_assert_int_eq(xen_xl_create(&plain, root, &err), RP_EIO);
	ck_assert_int_ge(asprintf(&want, "xl create: exited with 3, see %s/rp-job-42.xl-create.log", root),
			 0);
	ck_assert_str_eq(err.msg, want);
	args = slurp(at("rp-job-42.xl-create.log"));
	ck_assert_ptr_nonnull(strstr(args, "libxl: error: no Xen"));
	free(args);
	free(want);
	free(script);
}
END_TEST

/* ---- libvirt XML ---- */

static char *xpath(const char *file, const char *expr)
{
	char *cmd = NULL, *out;
	int status;

	ck_assert_int_ge(asprintf(&cmd, "xmllint --xpath \"%s\" '%s'", expr, file), 0);
	out = run(cmd, &status);
	ck_assert_msg(status == 0, "%s failed", cmd);
	free(cmd);
	return out;
}

#define ASSERT_XPATH(file, expr, want)                                                                       \
	do {                                                                                                 \
		char *got_ = xpath((file), (expr));                                                          \
		ck_assert_str_eq(got_, (want));                                                              \
		free(got_);                                                                                  \
	} while (0)

static const struct xen_domain tricky = {
    .name = "rp-xml.1",
    .kernel = "/k/<vm&linuz>",
    .ramdisk = "/i/'init\"rd'",
    .cmdline = "console=ttyS0 a=\"b c\" d='e' <f> & g",
    .memory_mb = 192,
    .vcpus = 3,
    .console_log = "/log/con&sole's.log",
};

START_TEST(test_virt_xml_text)
{
	struct rp_error err = {0};
	char *xml = NULL;

	ck_assert_int_eq(xen_virt_xml(&tricky, "kvm", &xml, &err), 0);
	ck_assert_str_eq(
	    xml, "<domain type='kvm'>\n"
		 "  <name>rp-xml.1</name>\n"
		 "  <memory unit='MiB'>192</memory>\n"
		 "  <vcpu>3</vcpu>\n"
		 "  <os>\n"
		 "    <type arch='x86_64'>hvm</type>\n"
		 "    <kernel>/k/&lt;vm&amp;linuz&gt;</kernel>\n"
		 "    <initrd>/i/&apos;init&quot;rd&apos;</initrd>\n"
		 "    <cmdline>console=ttyS0 a=&quot;b c&quot; d=&apos;e&apos; &lt;f&gt; &amp; g</cmdline>\n"
		 "  </os>\n"
		 "  <features>\n"
		 "    <acpi/>\n"
		 "  </features>\n"
		 "  <on_poweroff>destroy</on_poweroff>\n"
		 "  <on_reboot>destroy</on_reboot>\n"
		 "  <on_crash>destroy</on_crash>\n"
		 "  <devices>\n"
		 "    <serial type='file'>\n"
		 "      <source path='/log/con&amp;sole&apos;s.log'/>\n"
		 "      <target port='0'/>\n"
		 "    </serial>\n"
		 "  </devices>\n"
		 "</domain>\n");
	free(xml);

	ck_assert_int_eq(xen_virt_xml(&tricky, "xen", &xml, &err), 0);
	ck_assert_ptr_nonnull(strstr(xml, "<domain type='xen'>\n"));
	ck_assert_ptr_nonnull(strstr(xml, "<type arch='x86_64' machine='xenpvh'>xenpvh</type>"));
	ck_assert_ptr_null(strstr(xml, "<features>")); /* a PVH guest has no ACPI of libvirt's to switch on */
	ck_assert_ptr_nonnull(strstr(xml, "    <console type='file'>\n"
					  "      <source path='/log/con&amp;sole&apos;s.log'/>\n"
					  "      <target type='xen' port='0'/>\n"
					  "    </console>\n"));
	free(xml);

	ck_assert_int_eq(xen_virt_xml(&tricky, "lxc", &xml, &err), RP_EINVAL);
	ck_assert_str_eq(err.msg, "libvirt: kind \"lxc\" is none of xen, kvm, qemu, test");
	ck_assert_ptr_null(xml);

	/* qemu: as kvm, but QEMU's TCG (libvirt's embedded QEMU driver runs it in tests/vm/test_backend_xen.c). */
	ck_assert_int_eq(xen_virt_xml(&tricky, "qemu", &xml, &err), 0);
	ck_assert_ptr_nonnull(strstr(xml, "<domain type='qemu'>\n"));
	ck_assert_ptr_nonnull(strstr(xml, "    <type arch='x86_64'>hvm</type>\n"));
	ck_assert_ptr_nonnull(strstr(xml, "  <features>\n    <acpi/>\n  </features>\n"));
	ck_assert_ptr_nonnull(strstr(xml, "    <serial type='file'>\n"));
	free(xml);
	xml = NULL;
	ck_assert_int_eq(xen_virt_xml(&tricky, "lxc", &xml, &err), RP_EINVAL);
	ck_assert_ptr_null(xml);
}
END_TEST

/* Each kind's XML is valid for libvirt's schema, and xmllint reads every value back unescaped. */
START_TEST(test_virt_xml_schema)
{
	static const char *const kinds[] = {"xen", "kvm", "qemu", "test"};
	struct rp_error err = {0};
	int validate = have("virt-xml-validate");

	ck_assert_msg(have("xmllint"), "xmllint (libxml2-utils) is needed");
	if (!validate)
		fprintf(stderr, "test_virt_xml_schema: no virt-xml-validate (libvirt-clients); "
				"well-formedness and xpath checks only\n");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		char *xml = NULL, *cmd = NULL, *out;
		const char *file = at(kinds[i]);
		int status;

		ck_assert_int_eq(xen_virt_xml(&tricky, kinds[i], &xml, &err), 0);
		spill(file, xml, 0644);
		ck_assert_int_ge(
		    asprintf(&cmd,
			     validate ? "virt-xml-validate '%s' domain 2>&1" : "xmllint --noout '%s' 2>&1",
			     file),
		    0);
		out = run(cmd, &status);
		ck_assert_msg(status == 0, "%s: %s", kinds[i], out);
		free(out);
		free(cmd);
		free(xml);

		ASSERT_XPATH(file, "string(/domain/@type)", kinds[i]);
		ASSERT_XPATH(file, "string(/domain/name)", tricky.name);
		ASSERT_XPATH(file, "string(/domain/memory)", "192");
		ASSERT_XPATH(file, "string(/domain/memory/@unit)", "MiB");
		ASSERT_XPATH(file, "string(/domain/vcpu)", "3");
		ASSERT_XPATH(file, "string(/domain/os/kernel)", tricky.kernel);
		ASSERT_XPATH(file, "string(/domain/os/initrd)", tricky.ramdisk);
		ASSERT_XPATH(file, "string(/domain/os/cmdline)", tricky.cmdline);
		ASSERT_XPATH(file, "string(/domain/on_poweroff)", "destroy");
		ASSERT_XPATH(file, "string(/domain/on_reboot)", "destroy");
		ASSERT_XPATH(file, "string(/domain/on_crash)", "destroy");
		ASSERT_XPATH(file, "string(/domain/devices/*[@type='file']/source/@path)",
			     tricky.console_log);
	}
}
END_TEST

/* ---- the libvirt driver against test:///default ---- */

static void quiet(void *data, virErrorPtr e)
{
	(void)data;
	(void)e;
}

/* test:///default is one shared in-process state per process: a second connection sees the driver's domains.
 */
static int count_domains(virConnectPtr c)
{
	int n = virConnectNumOfDomains(c);
	ck_assert_int_ge(n, 0);
	return n;
}

START_TEST(test_virt_test_driver)
{
	struct rp_error err = {0};
	struct xen_virt *v = NULL;
	virConnectPtr c;
	char *xml = NULL;
	int before, ended = -1, timed_out = -1;

	virSetErrorFunc(NULL, quiet);
	ck_assert_ptr_nonnull(c = virConnectOpen("test:///default"));
	before = count_domains(c);
	ck_assert_int_eq(before, 1); /* the driver's own "test" domain */

	/* The test driver does not look at the kernel and initrd files: these do not exist. */
	ck_assert_int_eq(access(tricky.kernel, F_OK), -1);
	ck_assert_int_eq(xen_virt_start("test:///default", &tricky, "test", &v, &err), 0);
	ck_assert_int_eq(count_domains(c), before + 1);

	virDomainPtr seen = virDomainLookupByName(c, tricky.name);
	ck_assert_ptr_nonnull(seen);
	ck_assert_int_eq(virDomainIsPersistent(seen), 0); /* transient */
	ck_assert_uint_eq(virDomainGetMaxMemory(seen), 192u * 1024);
	virDomainInfo info;
	ck_assert_int_eq(virDomainGetInfo(seen, &info), 0);
	ck_assert_int_eq(info.nrVirtCpu, 3);
	ck_assert_int_eq(info.state, VIR_DOMAIN_RUNNING);
	virDomainFree(seen);

	/* What libvirt kept, read back through libvirt and xmllint. */
	ck_assert_int_eq(xen_virt_xml_desc(v, &xml, &err), 0);
	spill(at("desc.xml"), xml, 0644);
	free(xml);
	ASSERT_XPATH(at("desc.xml"), "string(/domain/name)", tricky.name);
	ASSERT_XPATH(at("desc.xml"), "string(/domain/memory)", "196608");
	ASSERT_XPATH(at("desc.xml"), "string(/domain/memory/@unit)", "KiB");
	ASSERT_XPATH(at("desc.xml"), "string(/domain/vcpu)", "3");
	ASSERT_XPATH(at("desc.xml"), "string(/domain/os/kernel)", tricky.kernel);
	ASSERT_XPATH(at("desc.xml"), "string(/domain/os/initrd)", tricky.ramdisk);
	ASSERT_XPATH(at("desc.xml"), "string(/domain/os/cmdline)", tricky.cmdline);
	ASSERT_XPATH(at("desc.xml"), "string(/domain/on_poweroff)", "destroy");
	ASSERT_XPATH(at("desc.xml"), "string(/domain/on_reboot)", "destroy");
	ASSERT_XPATH(at("desc.xml"), "string(/domain/on_crash)", "destroy");
	ASSERT_XPATH(at("desc.xml"), "string(/domain/devices/serial[@type='file']/source/@path)",
		     tricky.console_log);

	/* A second domain of the same name is refused while the first runs. */
	struct xen_virt *dup = NULL;
	ck_assert_int_eq(xen_virt_start("test:///default", &tricky, "test", &dup, &err), RP_EIO);
	ck_assert_ptr_null(dup);
	ck_assert_ptr_nonnull(strstr(err.msg, "libvirt test:///default: cannot create domain rp-xml.1: "));

	/* The test driver's guest never stops by itself: the wait times out. */
	ck_assert_int_eq(xen_virt_wait(v, 30, &ended, &err), 0);
	ck_assert_int_eq(ended, 0);
	/* Destroyed from outside (as a guest powering off with on_poweroff=destroy): the wait sees it end. */
	seen = virDomainLookupByName(c, tricky.name);
	ck_assert_ptr_nonnull(seen);
	ck_assert_int_eq(virDomainDestroy(seen), 0);
	virDomainFree(seen);
	ck_assert_int_eq(xen_virt_wait(v, 1000, &ended, &err), 0);
	ck_assert_int_eq(ended, 1);
	xen_virt_stop(v);
	ck_assert_int_eq(count_domains(c), before);
	ck_assert_ptr_null(virDomainLookupByName(c, tricky.name));

	/* xen_virt_run(): to the timeout, then nothing left. */
	ck_assert_int_eq(xen_virt_run("test:///default", &plain, "test", 50, &timed_out, &err), 0);
	ck_assert_int_eq(timed_out, 1);
	ck_assert_int_eq(count_domains(c), before);
	ck_assert_ptr_null(virDomainLookupByName(c, plain.name));
	ck_assert_int_eq(virConnectNumOfDefinedDomains(c), 0); /* nothing persistent was defined either */

	ck_assert_int_eq(virConnectClose(c), 0);
}
END_TEST

/* The test driver does not check the virtualization type, so the "xen" kind's PVH XML goes through it too. */
START_TEST(test_virt_test_driver_xen_kind)
{
	struct rp_error err = {0};
	struct xen_virt *v = NULL;
	char *xml = NULL;

	virSetErrorFunc(NULL, quiet);
	ck_assert_int_eq(xen_virt_start("test:///default", &tricky, "xen", &v, &err), 0);
	ck_assert_int_eq(xen_virt_xml_desc(v, &xml, &err), 0);
	spill(at("xen.xml"), xml, 0644);
	free(xml);
	ASSERT_XPATH(at("xen.xml"), "string(/domain/@type)", "xen");
	ASSERT_XPATH(at("xen.xml"), "string(/domain/os/type)", "xenpvh");
	ASSERT_XPATH(at("xen.xml"), "string(/domain/os/type/@machine)", "xenpvh");
	ASSERT_XPATH(at("xen.xml"), "string(/domain/os/kernel)", tricky.kernel);
	ASSERT_XPATH(at("xen.xml"), "string(/domain/os/cmdline)", tricky.cmdline);
	ASSERT_XPATH(at("xen.xml"), "string(/domain/on_poweroff)", "destroy");
	ASSERT_XPATH(at("xen.xml"), "string(/domain/devices/console[@type='file']/source/@path)",
		     tricky.console_log);
	ASSERT_XPATH(at("xen.xml"), "string(/domain/devices/console[@type='file']/target/@type)", "xen");
	ASSERT_XPATH(at("xen.xml"), "count(/domain/devices/serial)", "0");
	xen_virt_stop(v);
}
END_TEST

START_TEST(test_virt_errors)
{
	struct rp_error err = {0};
	struct xen_virt *v = (struct xen_virt *)&err;
	struct xen_domain d = plain;

	ck_assert_int_eq(xen_virt_start("bogus:///nowhere", &plain, "test", &v, &err), RP_EUNREACHABLE);
	ck_assert_ptr_null(v);
	ck_assert_ptr_nonnull(strstr(err.msg, "libvirt bogus:///nowhere: cannot connect: "));

	d.name = "bad name";
	ck_assert_int_eq(xen_virt_start("test:///default", &d, "test", &v, &err), RP_EINVAL);
	ck_assert_ptr_null(v);
	xen_virt_stop(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("xen");
	TCase *tc = tcase_create("xen");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_xl_config_text);
	tcase_add_test(tc, test_xl_config_keys_documented);
	tcase_add_test(tc, test_xl_round_trip_and_escapes);
	tcase_add_test(tc, test_xl_parse_grammar);
	tcase_add_test(tc, test_refused_values);
	tcase_add_test(tc, test_xl_console_path);
	tcase_add_test(tc, test_xl_create_without_xl);
	tcase_add_test(tc, test_xl_create_destroy_argv);
	tcase_add_test(tc, test_virt_xml_text);
	tcase_add_test(tc, test_virt_xml_schema);
	tcase_add_test(tc, test_virt_test_driver);
	tcase_add_test(tc, test_virt_test_driver_xen_kind);
	tcase_add_test(tc, test_virt_errors);
	suite_add_tcase(s, tc);
	return check_run_suite(s);
}
