/*
 * xen.h — throwaway VMs on Xen: the `xl` domain configuration of a PVH guest,
 * `xl create` / `xl destroy`, and a libvirt driver for hosts libvirt manages
 * (Xen through libxl, KVM through QEMU, or libvirt's built-in test driver).
 * The `xen` backend (backend_xen.c) drives it; docs/xen.md says what was
 * run and what not.
 *
 * Contract:
 * - A struct xen_domain describes one guest booted straight into a kernel and
 *   an initramfs (the same pair the `vm` backend boots under QEMU). Its
 *   strings are borrowed; only xen_xl_parse() fills one with strings of its
 *   own, which xen_domain_release() frees.
 * - Every generator checks the domain first and refuses, with RP_EINVAL and
 *   one line naming the field, what the target syntax cannot carry:
 *     name     1..XEN_NAME_MAX bytes of [A-Za-z0-9_.-], not starting with '-'
 *              or '.', not all digits (xl reads an all-digit argument as a
 *              domain id: `xl destroy 12` would hit domain 12); the name is
 *              also a file name (xenconsoled's guest-NAME.log, NAME.cfg);
 *     kernel   non-empty; ramdisk, cmdline and console_log may be NULL;
 *     strings  no control characters (a newline, a tab, DEL; NUL cannot be
 *              passed in a C string at all): xl.cfg strings are one line, and
 *              XML 1.0 cannot hold most control characters;
 *     numbers  memory_mb 1..XEN_MEMORY_MAX_MB, vcpus 1..XEN_VCPUS_MAX.
 *   Bytes >= 0x80 pass through unchanged; UTF-8 validity is not checked.
 * - The guest is never restarted: on_poweroff, on_reboot and on_crash are all
 *   "destroy", so every way the guest ends removes the domain.
 * - The console. xl.cfg(5) has no key that writes a PVH guest's console to a
 *   file: `serial=` configures the serial ports emulated by QEMU for HVM
 *   guests, and a PVH guest has no device model. Its console is the Xen PV
 *   console (hvc0 in Linux: put console=hvc0 in the cmdline), served by
 *   xenconsoled, which writes it to LOGDIR/guest-NAME.log when started with
 *   --log=guest (XENCONSOLED_TRACE=guest in Debian's /etc/default/xen,
 *   upstream's /etc/default/xencommons;
 *   LOGDIR is --log-dir, XEN_CONSOLED_LOG_DIR by default). So for xl,
 *   `console_log` is not a configuration key: xen_xl_config() records it in a
 *   comment, and the backend reads xen_xl_console_path(). libvirt does have
 *   a file console (<serial type='file'>, or <console type='file'> with a
 *   'xen' target for kind "xen").
 *
 * Calling sequence (xl):
 *	struct xen_domain d = { .name = "rp-42", .kernel = k, .ramdisk = i,
 *				.cmdline = "console=hvc0 quiet", .memory_mb = 256, .vcpus = 1 };
 *	xen_xl_create(&d, work_dir, &err);	// writes work_dir/rp-42.cfg, runs xl create
 *	... read the console log until the result line or a timeout ...
 *	xen_xl_destroy("rp-42", &err);		// needed only when the guest did not power off
 *
 * Calling sequence (libvirt):
 *	struct xen_virt *v;
 *	xen_virt_start("xen:///system", &d, "xen", &v, &err);
 *	xen_virt_wait(v, timeout_ms, &ended, &err);
 *	xen_virt_stop(v);			// destroys the domain if it still runs
 * or xen_virt_run(), which does the three.
 *
 * Nothing here prints or exits. The libvirt calls install a process-wide
 * libvirt error handler that keeps libvirt from printing errors to stderr
 * (errors come back through `err`; libvirt's own log may still print its
 * warnings), and register libvirt's default event loop, run by a thread of
 * their own for the rest of the process (the embedded QEMU driver,
 * qemu:///embed?root=DIR, refuses to open without one).
 */
#ifndef RIPPLE_RUNNER_XEN_H
#define RIPPLE_RUNNER_XEN_H

#include <stdint.h>

#include "core/error.h"

#define XEN_NAME_MAX 64
#define XEN_MEMORY_MAX_MB (1u << 20) /* 1 TiB */
#define XEN_VCPUS_MAX 512u
/* Bound of a configuration xen_xl_parse() reads. */
#define XEN_XL_CONFIG_MAX (64u << 10)
/* xenconsoled's default --log-dir on Debian. */
#define XEN_CONSOLED_LOG_DIR "/var/log/xen/console"

struct xen_domain {
	const char *name;
	const char *kernel;  /* path of the kernel image on the host (dom0) */
	const char *ramdisk; /* the initramfs, or NULL */
	const char *cmdline; /* the kernel command line, or NULL */
	unsigned memory_mb;
	unsigned vcpus;
	const char *console_log; /* the guest's console to this file (see the contract), or NULL */
};

/* 0, or RP_EINVAL with one line naming the first field that cannot be used. */
int xen_domain_check(const struct xen_domain *d, struct rp_error *err);

/* Frees the strings of a domain xen_xl_parse() filled, and zeroes it. */
void xen_domain_release(struct xen_domain *d);

/*
 * The xl.cfg(5) text of `d` as a PVH guest: type, name, kernel, ramdisk,
 * extra (the cmdline), memory, vcpus, on_poweroff/on_reboot/on_crash =
 * "destroy", one KEY = VALUE per line. Strings are double-quoted with '"' and
 * '\' escaped by a backslash (libxlu's dequoting). On success the caller owns
 * *text (free()). RP_EINVAL (see the contract), RP_ENOMEM.
 */
int xen_xl_config(const struct xen_domain *d, char **text, struct rp_error *err);

/*
 * Reads the subset of xl.cfg that xen_xl_config() writes back into *out:
 * KEY = "string" | 'string' | NUMBER | [ VALUE, ... ], pairs separated by
 * newlines or ';', '#' comments. Strings know the escapes \" \' \\ \a \b \f
 * \n \r \t \v \xHH; numbers are decimal, 0x hex or 0 octal. Keys other than
 * the ones written are ignored (their values are still checked), except
 * that `type` must be "pvh" and the on_* actions "destroy", which a struct
 * xen_domain cannot express otherwise; the console comment fills
 * console_log. At most XEN_XL_CONFIG_MAX bytes. On success *out holds its own
 * strings (xen_domain_release()) and passed xen_domain_check(); on failure it
 * is zeroed. RP_EINVAL ("line N: ..."), RP_ENOMEM.
 */
int xen_xl_parse(const char *text, struct xen_domain *out, struct rp_error *err);

/*
 * Where xenconsoled started with --log=guest --log-dir=LOG_DIR (NULL:
 * XEN_CONSOLED_LOG_DIR) writes the console of domain `name`. The caller frees
 * *path. RP_EINVAL (a bad name), RP_ENOMEM.
 */
int xen_xl_console_path(const char *log_dir, const char *name, char **path, struct rp_error *err);

/*
 * Writes work_dir/NAME.cfg (a temporary name, then renamed) and runs
 * `xl create work_dir/NAME.cfg` (argv, no shell; log in
 * work_dir/NAME.xl-create.log; 120 s timeout). xl returns once the domain is
 * built and running. RP_EINVAL (the domain), RP_EIO (the file; xl failing:
 * "xl create: exited with N, see LOG"), RP_ENOTFOUND when there is no `xl`
 * in $PATH (the config is still written).
 */
int xen_xl_create(const struct xen_domain *d, const char *work_dir, struct rp_error *err);

/*
 * Runs `xl destroy NAME` (60 s timeout; its output is dropped). RP_EINVAL
 * (the name), RP_ENOTFOUND (no `xl`), RP_EIO (xl failed, for instance when no
 * such domain exists).
 */
int xen_xl_destroy(const char *name, struct rp_error *err);

/*
 * Whether domain `name` exists: `xl list NAME` (10 s timeout, output
 * dropped) exits 0. xl exits 1 for a domain that does not exist and for its
 * own failures alike, so *running 0 means "not seen". RP_EINVAL (the name),
 * RP_ENOTFOUND (no `xl`), RP_EIO (xl timed out or was killed).
 */
int xen_xl_running(const char *name, int *running, struct rp_error *err);

/*
 * The libvirt domain XML of `d` for hypervisor `kind`:
 *   "xen"   <domain type='xen'>, os type xenpvh (machine 'xenpvh'), the
 *           console as <console type='file'> on the PV ('xen') target;
 *   "kvm"   <domain type='kvm'>, os type hvm, <serial type='file'>;
 *   "qemu"  <domain type='qemu'> (QEMU without KVM: TCG), as kvm;
 *   "test"  <domain type='test'> (libvirt's test driver), as kvm.
 * The hvm kinds (kvm, qemu, test) have <features><acpi/>: without it libvirt
 * starts QEMU with -no-acpi and a Linux guest's power-off only halts it.
 * Always x86_64; memory in MiB; the on_* actions "destroy"; no disk, no
 * network. Text and attribute values are escaped (& < > " '). The caller owns
 * *xml (free()). RP_EINVAL (the domain, an unknown kind), RP_ENOMEM.
 */
int xen_virt_xml(const struct xen_domain *d, const char *kind, char **xml, struct rp_error *err);

struct xen_virt;

/*
 * Connects to `uri` (virConnectOpen) and starts `d` as a transient domain
 * (virDomainCreateXML of xen_virt_xml(d, kind)): once it stops it is gone.
 * On success the caller owns *out and must call xen_virt_stop().
 * RP_EINVAL (the domain, the kind), RP_EUNREACHABLE (the connection cannot
 * be opened), RP_EIO (libvirt refused the domain; libvirt's message in err),
 * RP_ENOMEM.
 */
int xen_virt_start(const char *uri, const struct xen_domain *d, const char *kind, struct xen_virt **out,
		   struct rp_error *err);

/* Opens and closes a connection to `uri`: whether xen_virt_start() can reach it. RP_EUNREACHABLE, RP_EIO. */
int xen_virt_check(const char *uri, struct rp_error *err);

/* The running domain's XML as libvirt reports it (virDomainGetXMLDesc); the caller frees *xml. RP_EIO. */
int xen_virt_xml_desc(struct xen_virt *v, char **xml, struct rp_error *err);

/*
 * Waits up to timeout_ms (0: do not wait) for the domain to stop, polling its
 * state every 10 ms (blocking; meant for a worker thread). *ended is 1 when it
 * stopped (shut off, crashed, or gone), 0 at the timeout. RP_EIO.
 */
int xen_virt_wait(struct xen_virt *v, uint64_t timeout_ms, int *ended, struct rp_error *err);

/*
 * How the domain ended as the last xen_virt_wait() saw it, for messages:
 * "shut down", "crashed", "destroyed", "failed to start", "shut off", or
 * "gone before its end was seen" (a transient domain vanishes as it stops, so
 * a poll may never see it shut off). The string is static.
 */
const char *xen_virt_end_reason(const struct xen_virt *v);

/* Destroys the domain if it still exists (virDomainDestroy), frees it, closes the connection, frees v. NULL
 * is a no-op. */
void xen_virt_stop(struct xen_virt *v);

/*
 * xen_virt_start(), xen_virt_wait(timeout_ms), xen_virt_stop(): runs `d` to
 * its end or the timeout; *timed_out says which. Nothing of the domain is left
 * on return, whatever the outcome. Errors as xen_virt_start().
 */
int xen_virt_run(const char *uri, const struct xen_domain *d, const char *kind, uint64_t timeout_ms,
		 int *timed_out, struct rp_error *err);

#endif
