#define _GNU_SOURCE /* memmem, strverscmp, mkostemps */
#include "vm.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "runner-internal.h"
#include "step.h"
#include "core/banned.h"

#define VM_CONSOLE_CAP (16u << 20)
#define VM_MEMORY_DEFAULT 256u
#define VM_TIMEOUT_DEFAULT 60000u
#define VM_PROBE_TIMEOUT 10000u
#define COPY_CHUNK (64 * 1024)

/*
 * The kernel command line. quiet loglevel=1: every console byte is a trapped
 * UART write under TCG, but a panic (KERN_EMERG) must still reach the console.
 * panic=-1 reboot=t: a panic reboots at once by triple fault, which QEMU's
 * -no-reboot turns into an exit (the first version, without reboot=t and with
 * loglevel=0, sat silent until the timeout after a panic). oops=panic: an oops
 * ends the VM too. tsc_early_khz and lpj (added per host, see boot_once()):
 * microvm has no PIT or HPET to calibrate the TSC against, and the boot hangs
 * without them under TCG. The rest skips probing this machine does not need.
 */
#define VM_CMDLINE_BASE                                                                                      \
	"console=ttyS0 quiet loglevel=1 panic=-1 reboot=t oops=panic nokaslr no_timer_check "                \
	"tsc=reliable mitigations=off i8042.noaux i8042.nokbd i8042.nopnp 8250.nr_uarts=1 "                  \
	"cryptomgr.notests audit=0 random.trust_cpu=on"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *vm_status_name(enum vm_status status)
{
	switch (status) {
	case VM_PASS:
		return "pass";
	case VM_FAIL:
		return "fail";
	case VM_TIMEOUT:
		return "timeout";
	case VM_ERROR:
		return "error";
	}
	return "unknown";
}

void vm_result_release(struct vm_result *r)
{
	free(r->console);
	r->console = NULL;
	r->console_len = 0;
}

int vm_frame_line(const char *body, char *out, size_t size)
{
	unsigned long crc = crc32(0L, (const Bytef *)body, (uInt)strlen(body));
	int n = snprintf(out, size, "%s crc=%08lx", body, crc);
	return n < 0 || (size_t)n >= size ? -1 : n;
}

/* ---- finding the pieces ---- */

/* The newest /boot/vmlinuz-* by version order. */
static int find_kernel(char *out, size_t size)
{
	DIR *d = opendir("/boot");
	if (!d)
		return 0;
	char best[NAME_MAX + 1] = "";
	struct dirent *e;
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "vmlinuz-", 8) != 0)
			continue;
		if (!*best || strverscmp(e->d_name, best) > 0)
			snprintf(best, sizeof(best), "%s", e->d_name);
	}
	closedir(d);
	if (!*best)
		return 0;
	snprintf(out, size, "/boot/%s", best);
	return 1;
}

static int is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int find_init(char *out, size_t size)
{
	const char *env = getenv("RIPPLE_VM_INIT");
	if (env && *env) {
		snprintf(out, size, "%s", env);
		return is_file(out);
	}
	char self[PATH_MAX];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len > 0) {
		self[len] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			if ((size_t)snprintf(out, size, "%s/ripple-vm-init", self) < size && is_file(out))
				return 1;
		}
	}
#ifdef RIPPLE_VM_INIT_BUILD_PATH
	snprintf(out, size, "%s", RIPPLE_VM_INIT_BUILD_PATH);
	if (is_file(out))
		return 1;
#endif
	return 0;
}

/*
 * The uncompressed kernel (vmlinux, an ELF with a PVH entry note) of a
 * bzImage: QEMU boots it directly, which skips the kernel's self-decompression
 * (about 0.4 s under TCG). Kept in a cache, $RIPPLE_VM_CACHE or
 * $XDG_CACHE_HOME/ripple/vm or ~/.cache/ripple/vm, as
 * vmlinux-NAME-SIZE-MTIME, written to a temporary name and renamed, so
 * concurrent users never see half a file. 1 and `out` filled, or 0 (then the
 * bzImage is booted as it is).
 */
#define BZ_MAX (128u << 20)
#define VMLINUX_MAX (512u << 20)

static int vm_cache_dir(char *out, size_t size)
{
	const char *env = getenv("RIPPLE_VM_CACHE"), *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;
	if (env && *env)
		n = snprintf(out, size, "%s", env);
	else if (xdg && *xdg)
		n = snprintf(out, size, "%s/ripple/vm", xdg);
	else if (home && *home)
		n = snprintf(out, size, "%s/.cache/ripple/vm", home);
	else
		return 0;
	if (n < 0 || (size_t)n >= size)
		return 0;
	/* mkdir -p */
	for (char *s = out + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		mkdir(out, 0755);
		*s = '/';
	}
	return mkdir(out, 0755) == 0 || errno == EEXIST;
}

static int read_small_file(const char *path, size_t max, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat st;
	char *buf = NULL;
	if (fstat(fd, &st) < 0 || st.st_size <= 0 || (uint64_t)st.st_size > max ||
	    !(buf = malloc((size_t)st.st_size)))
		goto fail;
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
fail:
	free(buf);
	close(fd);
	return -1;
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* The end of an ELF64 image's section headers: the least size a complete vmlinux has. 0: not ELF64. */
static uint64_t elf_min_size(const unsigned char *h, size_t len)
{
	if (len < 64 || memcmp(h, "\177ELF", 4) != 0 || h[4] != 2)
		return 0;
	uint64_t shoff = le64(h + 0x28);
	unsigned shentsize = (unsigned)h[0x3a] | (unsigned)h[0x3b] << 8,
		 shnum = (unsigned)h[0x3c] | (unsigned)h[0x3d] << 8;
	return shoff + (uint64_t)shentsize * shnum;
}

/* Decompresses the bzImage's payload into `fd`; 0 when a complete ELF came out. */
static int bz_payload(const unsigned char *bz, size_t len, int fd)
{
	/* The setup header: setup_sects at 0x1f1, "HdrS" at 0x202, payload_offset/length at 0x248/0x24c. */
	if (len < 0x250 || memcmp(bz + 0x202, "HdrS", 4) != 0)
		return -1;
	size_t pm = ((size_t)(bz[0x1f1] ? bz[0x1f1] : 4) + 1) * 512;
	size_t off = pm + le32(bz + 0x248), plen = le32(bz + 0x24c);
	if (off >= len || plen > len - off)
		return -1;
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int rc = -1;
	uint64_t written = 0, need = 0;
	unsigned char head[64];
	size_t head_len = 0;
	if (!a || archive_read_support_filter_all(a) != ARCHIVE_OK ||
	    archive_read_support_format_raw(a) != ARCHIVE_OK ||
	    archive_read_open_memory(a, bz + off, plen) != ARCHIVE_OK ||
	    archive_read_next_header(a, &e) != ARCHIVE_OK)
		goto out;
	for (;;) {
		const void *buf;
		size_t n;
		la_int64_t at;
		int r = archive_read_data_block(a, &buf, &n, &at);
		if (r == ARCHIVE_EOF)
			break;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			break; /* the size word after some formats' stream: judged by the ELF's size below */
		if (head_len < sizeof(head)) {
			size_t k = n < sizeof(head) - head_len ? n : sizeof(head) - head_len;
			memcpy(head + head_len, buf, k);
			head_len += k;
			if (head_len == sizeof(head) && !(need = elf_min_size(head, head_len)))
				goto out;
		}
		if (written + n > VMLINUX_MAX)
			goto out;
		for (size_t done = 0; done < n;) {
			ssize_t w = write(fd, (const char *)buf + done, n - done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0)
				goto out;
			done += (size_t)w;
		}
		written += n;
	}
	rc = need && written >= need ? 0 : -1;
out:
	if (a)
		archive_read_free(a);
	return rc;
}

static pthread_mutex_t vmlinux_lock = PTHREAD_MUTEX_INITIALIZER;

static int kernel_vmlinux(const char *kernel, char *out, size_t size)
{
	struct stat st;
	char dir[PATH_MAX - 128];
	if (stat(kernel, &st) < 0 || !vm_cache_dir(dir, sizeof(dir)))
		return 0;
	const char *base = strrchr(kernel, '/');
	base = base ? base + 1 : kernel;
	if ((size_t)snprintf(out, size, "%s/vmlinux-%s-%lld-%lld", dir, base, (long long)st.st_size,
			     (long long)st.st_mtime) >= size)
		return 0;
	pthread_mutex_lock(&vmlinux_lock);
	int ok = is_file(out);
	if (!ok) {
		char tmp[PATH_MAX], *bz = NULL;
		size_t len = 0;
		snprintf(tmp, sizeof(tmp), "%s/.vmlinux-XXXXXX", dir);
		int fd = mkostemp(tmp, O_CLOEXEC);
		if (fd >= 0) {
			if (read_small_file(kernel, BZ_MAX, &bz, &len) == 0 &&
			    bz_payload((const unsigned char *)bz, len, fd) == 0 && fchmod(fd, 0644) == 0 &&
			    close(fd) == 0) {
				fd = -1;
				ok = rename(tmp, out) == 0;
			}
			if (fd >= 0)
				close(fd);
			if (!ok)
				unlink(tmp);
		}
		free(bz);
	}
	pthread_mutex_unlock(&vmlinux_lock);
	return ok;
}

/* The host TSC rate in kHz (TCG's guest TSC is the host's), from /proc/cpuinfo; 0 if unknown. */
static unsigned long host_tsc_khz(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return 0;
	char line[256];
	unsigned long khz = 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "cpu MHz", 7) != 0)
			continue;
		char *colon = strchr(line, ':');
		if (colon) {
			double mhz = strtod(colon + 1, NULL);
			if (mhz > 100 && mhz < 100000)
				khz = (unsigned long)(mhz * 1000);
		}
		break;
	}
	fclose(f);
	return khz;
}

/* ---- the initramfs ---- */

struct dir_set {
	char **items;
	size_t len, cap;
};

static void dir_set_release(struct dir_set *s)
{
	for (size_t i = 0; i < s->len; i++)
		free(s->items[i]);
	free(s->items);
}

/* 1 when added, 0 when present, RP_ENOMEM. */
static int dir_set_add(struct dir_set *s, const char *path, size_t len)
{
	for (size_t i = 0; i < s->len; i++)
		if (strlen(s->items[i]) == len && memcmp(s->items[i], path, len) == 0)
			return 0;
	if (s->len == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 32;
		char **items = realloc(s->items, cap * sizeof(*items));
		if (!items)
			return RP_ENOMEM;
		s->items = items;
		s->cap = cap;
	}
	if (!(s->items[s->len] = strndup(path, len)))
		return RP_ENOMEM;
	s->len++;
	return 1;
}

struct cpio {
	struct archive *a;
	struct archive_entry *e;
	struct dir_set dirs;
	const char *path;
};

static int cpio_fail(struct cpio *c, struct rp_error *err, const char *what)
{
	return rp_error_set(err, RP_EIO, "cannot write initramfs %s (%s): %s", c->path, what,
			    archive_error_string(c->a));
}

static int cpio_header(struct cpio *c, const char *name, mode_t type, mode_t perm, int64_t size, dev_t rdev,
		       struct rp_error *err)
{
	archive_entry_clear(c->e);
	archive_entry_set_pathname(c->e, name);
	archive_entry_set_filetype(c->e, type);
	archive_entry_set_perm(c->e, perm);
	archive_entry_set_size(c->e, size);
	archive_entry_set_uid(c->e, 0);
	archive_entry_set_gid(c->e, 0);
	archive_entry_set_nlink(c->e, type == AE_IFDIR ? 2 : 1);
	if (rdev)
		archive_entry_set_rdev(c->e, rdev);
	if (archive_write_header(c->a, c->e) != ARCHIVE_OK)
		return cpio_fail(c, err, name);
	return 0;
}

/* Every missing parent directory of `name` (relative, "a/b/c"), then, if is_dir, name itself. */
static int cpio_dirs(struct cpio *c, const char *name, int is_dir, struct rp_error *err)
{
	size_t len = strlen(name);
	for (size_t i = 1; i <= len; i++) {
		if (i < len && name[i] != '/')
			continue;
		if (i == len && !is_dir)
			break;
		int added = dir_set_add(&c->dirs, name, i);
		if (added < 0)
			return rp_error_set(err, added, "out of memory building the initramfs");
		if (added) {
			char dir[PATH_MAX];
			snprintf(dir, sizeof(dir), "%.*s", (int)i, name);
			int rc = cpio_header(c, dir, AE_IFDIR, 0755, 0, 0, err);
			if (rc < 0)
				return rc;
		}
	}
	return 0;
}

static int cpio_data(struct cpio *c, const char *name, mode_t perm, const char *data, size_t len,
		     struct rp_error *err)
{
	int rc = cpio_dirs(c, name, 0, err);
	if (rc < 0)
		return rc;
	if ((rc = cpio_header(c, name, AE_IFREG, perm, (int64_t)len, 0, err)) < 0)
		return rc;
	if (len && archive_write_data(c->a, data, len) != (la_ssize_t)len)
		return cpio_fail(c, err, name);
	return 0;
}

static int cpio_file(struct cpio *c, const char *name, const char *host, struct rp_error *err)
{
	int fd = open(host, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return rp_error_set(err, errno == ENOENT ? RP_ENOTFOUND : RP_EIO, "cannot open %s: %s", host,
				    strerror(errno));
	int rc = 0;
	char *buf = NULL;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = rp_error_set(err, RP_EIO, "%s is not a regular file", host);
		goto out;
	}
	if ((rc = cpio_dirs(c, name, 0, err)) < 0)
		goto out;
	if ((rc = cpio_header(c, name, AE_IFREG, st.st_mode & 07777, (int64_t)st.st_size, 0, err)) < 0)
		goto out;
	if (!(buf = malloc(COPY_CHUNK))) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory building the initramfs");
		goto out;
	}
	int64_t left = (int64_t)st.st_size;
	while (left > 0) {
		ssize_t n = read(fd, buf, left < COPY_CHUNK ? (size_t)left : COPY_CHUNK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = rp_error_set(err, RP_EIO, "cannot read %s: %s", host,
					  n < 0 ? strerror(errno) : "file shrank");
			goto out;
		}
		if (archive_write_data(c->a, buf, (size_t)n) != n) {
			rc = cpio_fail(c, err, name);
			goto out;
		}
		left -= n;
	}
out:
	free(buf);
	close(fd);
	return rc;
}

/* A guest path, checked, without its leading '/'. */
static const char *guest_name(const char *guest, struct rp_error *err)
{
	if (!guest || guest[0] != '/' || !guest[1])
		goto bad;
	const char *p = guest + 1;
	for (const char *seg = p; *seg;) {
		const char *end = strchr(seg, '/');
		size_t len = end ? (size_t)(end - seg) : strlen(seg);
		if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
			goto bad;
		if (!end)
			break;
		seg = end + 1;
		if (!*seg)
			goto bad;
	}
	if (strcmp(p, "init") == 0 || strcmp(p, "ripple") == 0 || strcmp(p, VM_JOB_PATH + 1) == 0 ||
	    strcmp(p, "bin/busybox") == 0 || strcmp(p, "dev/console") == 0)
		goto bad;
	if (strlen(guest) >= PATH_MAX)
		goto bad;
	return p;
bad:
	rp_error_set(err, RP_EINVAL,
		     "bad guest path \"%s\": absolute, no empty, . or .. component, "
		     "not /init, /bin/busybox, /dev/console, /ripple or " VM_JOB_PATH,
		     guest ? guest : "(null)");
	return NULL;
}

/* The job file: magic, cwd, command, env strings, each NUL-terminated. Caller frees *out. */
static int job_encode(const struct vm_payload *p, char **out, size_t *len)
{
	const char *cwd = p->cwd ? p->cwd : "/";
	size_t n = sizeof(VM_JOB_MAGIC) + strlen(cwd) + 1 + strlen(p->command) + 1;
	for (size_t i = 0; p->env && p->env[i]; i++)
		n += strlen(p->env[i]) + 1;
	char *buf = malloc(n), *at = buf;
	if (!buf)
		return RP_ENOMEM;
	memcpy(at, VM_JOB_MAGIC, sizeof(VM_JOB_MAGIC));
	at += sizeof(VM_JOB_MAGIC);
	memcpy(at, cwd, strlen(cwd) + 1);
	at += strlen(cwd) + 1;
	memcpy(at, p->command, strlen(p->command) + 1);
	at += strlen(p->command) + 1;
	for (size_t i = 0; p->env && p->env[i]; i++) {
		memcpy(at, p->env[i], strlen(p->env[i]) + 1);
		at += strlen(p->env[i]) + 1;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* ---- a guest's virtio devices (network, output port): the kernel's modules ---- */

struct modules {
	char **paths; /* host paths, dependencies first */
	size_t n;
};

static void modules_release(struct modules *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->paths[i]);
	free(m->paths);
	memset(m, 0, sizeof(*m));
}

/* modules.dep's line for the module whose file is NAME.ko: its path and dependencies, or NULL. */
static const char *dep_line(const char *dep, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	for (const char *line = dep; *line;) {
		const char *end = strchr(line, '\n');
		size_t ll = end ? (size_t)(end - line) : strlen(line);
		const char *colon = memchr(line, ':', ll);
		if (colon && (size_t)(colon - line) >= nl + 3 && memcmp(colon - nl - 3, name, nl) == 0 &&
		    memcmp(colon - 3, ".ko", 3) == 0 && (colon - nl - 3 == line || colon[-nl - 4] == '/')) {
			*len = ll;
			return line;
		}
		line = end ? end + 1 : line + ll;
	}
	return NULL;
}

static int modules_add(struct modules *m, const char *dir, const char *dep, const char *rel, size_t rel_len,
		       int depth, struct rp_error *err)
{
	char path[PATH_MAX];
	if (depth > 16 || (size_t)snprintf(path, sizeof(path), "%s/%.*s", dir, (int)rel_len, rel) >= sizeof(path))
		return rp_error_set(err, RP_EINVAL, "guest devices: modules.dep of %s nests too deep", dir);
	for (size_t i = 0; i < m->n; i++)
		if (strcmp(m->paths[i], path) == 0)
			return 0;
	/* Its dependencies first: "kernel/x.ko: kernel/a.ko kernel/b.ko" */
	const char *base = strrchr(path, '/') + 1;
	char name[128];
	snprintf(name, sizeof(name), "%.*s", (int)strcspn(base, "."), base);
	size_t ll;
	const char *line = dep_line(dep, name, &ll);
	const char *colon = line ? memchr(line, ':', ll) : NULL;
	for (const char *d = colon ? colon + 1 : NULL; d && d < line + ll;) {
		while (d < line + ll && *d == ' ')
			d++;
		size_t dl = 0;
		while (d + dl < line + ll && d[dl] != ' ')
			dl++;
		int rc = dl ? modules_add(m, dir, dep, d, dl, depth + 1, err) : 0;
		if (rc < 0)
			return rc;
		d += dl;
	}
	char **more = realloc(m->paths, (m->n + 1) * sizeof(*more));
	if (!more || !(more[m->n] = strdup(path))) {
		if (more)
			m->paths = more;
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	}
	m->paths = more;
	m->n++;
	return 0;
}

/*
 * The modules a guest of `kernel` (/boot/vmlinuz-KVER: /lib/modules/KVER, or
 * $RIPPLE_VM_MODULES) needs for its virtio devices — the bus, then a network
 * device (virtio_net) and an output port (virtio_console) as asked — from
 * modules.dep, dependencies first; those built into the kernel need nothing.
 */
static int guest_modules(const char *kernel, int pc, int network, int output, struct modules *m,
			 struct rp_error *err)
{
	const char *base = strrchr(kernel, '/');
	base = base ? base + 1 : kernel;
	const char *env = getenv("RIPPLE_VM_MODULES");
	char dir[PATH_MAX], path[PATH_MAX + 32];
	/* A kernel with its config beside it (ripple's guest kernel) may have virtio built in. */
	snprintf(path, sizeof(path), "%.*s/config", base == kernel ? 1 : (int)(base - 1 - kernel),
		 base == kernel ? "." : kernel);
	char *config = NULL;
	size_t config_len;
	if (read_small_file(path, 4u << 20, &config, &config_len) == 0) {
		int built_in = (!network || strstr(config, "\nCONFIG_VIRTIO_NET=y\n")) &&
			       (!output || strstr(config, "\nCONFIG_VIRTIO_CONSOLE=y\n")) &&
			       strstr(config, pc ? "\nCONFIG_VIRTIO_PCI=y\n" : "\nCONFIG_VIRTIO_MMIO=y\n");
		free(config);
		if (built_in)
			return 0;
	}
	if (env && *env)
		snprintf(dir, sizeof(dir), "%s", env);
	else if (strncmp(base, "vmlinuz-", 8) == 0)
		snprintf(dir, sizeof(dir), "/lib/modules/%s", base + 8);
	else
		return rp_error_set(err, RP_ENOTFOUND,
				    "guest devices: cannot tell the version of kernel %s (set RIPPLE_VM_MODULES to its modules)",
				    kernel);
	char *dep = NULL, *builtin = NULL;
	size_t len;
	snprintf(path, sizeof(path), "%s/modules.dep", dir);
	if (read_small_file(path, 16u << 20, &dep, &len) < 0)
		return rp_error_set(err, RP_ENOTFOUND, "guest devices: no %s (the guest's virtio modules)", path);
	snprintf(path, sizeof(path), "%s/modules.builtin", dir);
	if (read_small_file(path, 16u << 20, &builtin, &len) < 0)
		builtin = NULL;
	const char *want[3];
	size_t n_want = 0;
	want[n_want++] = pc ? "virtio_pci" : "virtio_mmio";
	if (network)
		want[n_want++] = "virtio_net";
	if (output)
		want[n_want++] = "virtio_console";
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < n_want; i++) {
		size_t ll;
		const char *line = dep_line(dep, want[i], &ll);
		char needle[80];
		snprintf(needle, sizeof(needle), "/%s.ko", want[i]);
		if (line)
			rc = modules_add(m, dir, dep, line, (size_t)((const char *)memchr(line, ':', ll) - line), 0, err);
		else if (!builtin || !strstr(builtin, needle))
			rc = rp_error_set(err, RP_ENOTFOUND, "guest devices: kernel modules in %s have no %s", dir, want[i]);
	}
	free(dep);
	free(builtin);
	if (rc < 0)
		modules_release(m);
	return rc;
}

/* Writes the initramfs to the already created (empty) file `fd` named `path`. */
static int build_initramfs(int fd, const char *path, const char *init, const char *busybox,
			   const struct vm_payload *p, const struct modules *mods, int network, int output,
			   struct rp_error *err)
{
	struct cpio c = {.a = archive_write_new(), .e = archive_entry_new(), .path = path};
	char *job = NULL;
	size_t job_len = 0;
	int rc = 0;
	if (!c.a || !c.e) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory building the initramfs");
		goto out;
	}
	if (archive_write_set_format_cpio_newc(c.a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(c.a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(c.a, 0) != ARCHIVE_OK ||
	    archive_write_open_fd(c.a, fd) != ARCHIVE_OK) {
		rc = cpio_fail(&c, err, "open");
		goto out;
	}
	static const char *const dirs[] = {"bin",  "sbin", "usr/bin", "usr/sbin", "dev",
					   "proc", "sys",  "tmp",     "root",	  "ripple"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		if ((rc = cpio_dirs(&c, dirs[i], 1, err)) < 0)
			goto out;
	if ((rc = cpio_header(&c, "dev/console", AE_IFCHR, 0600, 0, makedev(5, 1), err)) < 0)
		goto out;
	if ((rc = cpio_file(&c, "init", init, err)) < 0 ||
	    (rc = cpio_file(&c, "bin/busybox", busybox, err)) < 0)
		goto out;
	if ((rc = job_encode(p, &job, &job_len)) < 0) {
		rp_error_set(err, rc, "out of memory building the initramfs");
		goto out;
	}
	if ((rc = cpio_data(&c, VM_JOB_PATH + 1, 0600, job, job_len, err)) < 0)
		goto out;
	for (size_t i = 0; i < p->n_files; i++) {
		const char *name = guest_name(p->files[i].guest, err);
		if (!name) {
			rc = RP_EINVAL;
			goto out;
		}
		if (!p->files[i].host) {
			rc = rp_error_set(err, RP_EINVAL, "payload file %s has no host path",
					  p->files[i].guest);
			goto out;
		}
		if ((rc = cpio_file(&c, name, p->files[i].host, err)) < 0)
			goto out;
	}
	if ((network && (rc = cpio_data(&c, VM_NETWORK_MARK + 1, 0644, "", 0, err)) < 0) ||
	    (output && (rc = cpio_data(&c, VM_OUTPUT_MARK + 1, 0644, "", 0, err)) < 0))
		goto out;
	/* With a device, the list exists even when it is empty: the modules may be built in. */
	if (mods) {
		char *order = NULL;
		size_t order_len = 0;
		FILE *o = open_memstream(&order, &order_len);
		for (size_t i = 0; o && i < mods->n; i++) {
			char guest[PATH_MAX];
			const char *b = strrchr(mods->paths[i], '/') + 1;
			snprintf(guest, sizeof(guest), "%s/%s", VM_MODULES_DIR + 1, b);
			if ((rc = cpio_file(&c, guest, mods->paths[i], err)) < 0)
				break;
			fprintf(o, "/%s\n", guest);
		}
		if (o)
			fclose(o);
		if (rc == 0)
			rc = order ? cpio_data(&c, VM_MODULES_LIST + 1, 0644, order, order_len, err)
				   : rp_error_set(err, RP_ENOMEM, "out of memory");
		free(order);
		if (rc < 0)
			goto out;
	}
	if (archive_write_close(c.a) != ARCHIVE_OK)
		rc = cpio_fail(&c, err, "close");
out:
	free(job);
	dir_set_release(&c.dirs);
	if (c.e)
		archive_entry_free(c.e);
	if (c.a)
		archive_write_free(c.a);
	return rc;
}

/* ---- the console ---- */

struct console {
	char *log; /* the step's log: stamped lines */
	size_t len, cap;
	int oom;
	struct vm__scan scan;
};

static void console_take(struct step *step, const char *chunk, size_t len, uint64_t offset, void *data)
{
	struct console *c = data;
	(void)step;
	(void)offset;
	vm__scan_feed(&c->scan, chunk, len);
	if (c->oom)
		return;
	if (c->len + len + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 64 * 1024;
		while (cap < c->len + len + 1)
			cap *= 2;
		char *log = realloc(c->log, cap);
		if (!log) {
			c->oom = 1;
			return;
		}
		c->log = log;
		c->cap = cap;
	}
	memcpy(c->log + c->len, chunk, len);
	c->len += len;
}

/* A log line's stamp "[SSSS.mmm] " in ms, *text set past it; -1 without one. */
static int64_t stamp_ms(const char *line, size_t len, size_t *text)
{
	size_t i = 0;
	if (len < 2 || line[0] != '[')
		return -1;
	i = 1;
	while (i < len && line[i] == ' ')
		i++;
	uint64_t s = 0, ms = 0;
	size_t d = 0;
	while (i < len && line[i] >= '0' && line[i] <= '9' && d++ < 12)
		s = s * 10 + (uint64_t)(line[i++] - '0');
	if (!d || i + 5 > len || line[i] != '.')
		return -1;
	for (int k = 1; k <= 3; k++) {
		char ch = line[i + (size_t)k];
		if (ch < '0' || ch > '9')
			return -1;
		ms = ms * 10 + (uint64_t)(ch - '0');
	}
	i += 4;
	if (i + 1 >= len + 1 || line[i] != ']')
		return -1;
	i++;
	if (i < len && line[i] == ' ')
		i++;
	*text = i;
	return (int64_t)(s * 1000 + ms);
}

/*
 * A framed line in text[0..len): 1 and *body, *body_len (the part the crc
 * covers) when one with a matching crc is there, else 0.
 */
static int framed(const char *text, size_t len, const char **body, size_t *body_len)
{
	const char *tag = memmem(text, len, VM_LINE_TAG " ", sizeof(VM_LINE_TAG));
	while (tag) {
		size_t rest = len - (size_t)(tag - text);
		while (rest && (tag[rest - 1] == ' ' || tag[rest - 1] == '\t'))
			rest--;
		static const char crc_key[] = " crc=";
		if (rest > sizeof(crc_key) - 1 + 8) {
			const char *crc = tag + rest - 8;
			const char *key = crc - (sizeof(crc_key) - 1);
			if (memcmp(key, crc_key, sizeof(crc_key) - 1) == 0) {
				char hex[9];
				memcpy(hex, crc, 8);
				hex[8] = '\0';
				char *end;
				unsigned long want = strtoul(hex, &end, 16);
				size_t n = (size_t)(key - tag);
				if (*end == '\0' && end == hex + 8 &&
				    crc32(0L, (const Bytef *)tag, (uInt)n) == want) {
					*body = tag;
					*body_len = n;
					return 1;
				}
			}
		}
		/* A forged tag may precede the real one on the same line. */
		const char *next = tag + 1;
		tag = memmem(next, len - (size_t)(next - text), VM_LINE_TAG " ", sizeof(VM_LINE_TAG));
	}
	return 0;
}

/* The value of `name` in a framed body ("... name=value ..."), as a long; 1 when found. */
static int field_long(const char *body, size_t len, const char *name, long *out)
{
	size_t nl = strlen(name);
	for (size_t i = 0; i + nl + 1 < len; i++) {
		if ((i == 0 || body[i - 1] == ' ') && memcmp(body + i, name, nl) == 0 &&
		    body[i + nl] == '=') {
			char num[24];
			size_t k = 0, j = i + nl + 1;
			while (j < len && body[j] != ' ' && k + 1 < sizeof(num))
				num[k++] = body[j++];
			num[k] = '\0';
			char *end;
			errno = 0;
			long v = strtol(num, &end, 10);
			if (!k || *end || errno)
				return 0;
			*out = v;
			return 1;
		}
	}
	return 0;
}

static int field_is(const char *body, size_t len, const char *field)
{
	size_t fl = strlen(field);
	for (size_t i = 0; i + fl <= len; i++)
		if ((i == 0 || body[i - 1] == ' ') && memcmp(body + i, field, fl) == 0 &&
		    (i + fl == len || body[i + fl] == ' '))
			return 1;
	return 0;
}

void vm__scan_init(struct vm__scan *sc)
{
	memset(sc, 0, sizeof(*sc));
	sc->exit_code = -1;
}

/* One whole log line (without its '\n'): its stamp dropped, '\r' removed. */
static void scan_line(struct vm__scan *sc, const char *line, size_t len)
{
	size_t at = 0;
	int64_t ms = stamp_ms(line, len, &at);
	char text[VM__SCAN_LINE];
	size_t n = 0;
	for (size_t i = at; i < len && n < sizeof(text); i++)
		if (line[i] != '\r')
			text[n++] = line[i];
	const char *body;
	size_t body_len;
	long code;
	if (memmem(text, n, VM_LINE_TAG, sizeof(VM_LINE_TAG) - 1))
		sc->saw_tag = 1;
	if (framed(text, n, &body, &body_len)) {
		if (!sc->have_boot && field_is(body, body_len, "type=boot")) {
			sc->have_boot = 1;
			sc->boot_ms = ms < 0 ? 0 : (uint64_t)ms;
		} else if (!sc->have_status && field_is(body, body_len, "type=status") &&
			   field_long(body, body_len, "exit", &code)) {
			sc->have_status = 1;
			sc->exit_code = code;
		}
		return; /* ripple's own lines are no part of the console's tail */
	}
	if (memmem(text, n, "Linux version", 13))
		sc->saw_linux = 1;
	if (memmem(text, n, "microvm", 7))
		sc->saw_microvm = 1;
	const char *panic = memmem(text, n, "Kernel panic", 12);
	if (panic && !sc->panic[0]) {
		size_t l = n - (size_t)(panic - text);
		snprintf(sc->panic, sizeof(sc->panic), "%.*s", (int)(l > 120 ? 120 : l), panic);
	}
	size_t lead = 0;
	while (lead < n && (text[lead] == ' ' || text[lead] == '\t'))
		lead++;
	if (lead == n)
		return;
	char *slot = sc->tail[sc->tail_next % VM__SCAN_TAIL];
	snprintf(slot, VM__SCAN_TAIL_LEN, "%.*s", (int)(n - lead), text + lead);
	for (char *c = slot; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	sc->tail_next++;
}

void vm__scan_feed(struct vm__scan *sc, const char *chunk, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (chunk[i] == '\n') {
			scan_line(sc, sc->line, sc->line_len);
			sc->line_len = 0;
			continue;
		}
		if (sc->line_len == sizeof(sc->line)) {
			/* A very long line: keep its stamp and its end, where a status line would be. */
			size_t keep = sizeof(sc->line) / 2, head = STEP_STAMP_LEN;
			memmove(sc->line + head, sc->line + sc->line_len - keep, keep);
			sc->line_len = head + keep;
		}
		sc->line[sc->line_len++] = chunk[i];
	}
}

/* The console's last lines (blank ones skipped), joined by " | ", into buf. */
void vm__scan_tail(const struct vm__scan *sc, char *buf, size_t size)
{
	size_t n = 0, first = sc->tail_next > VM__SCAN_TAIL ? sc->tail_next - VM__SCAN_TAIL : 0;
	buf[0] = '\0';
	for (size_t i = first; i < sc->tail_next && n + 1 < size; i++) {
		int k = snprintf(buf + n, size - n, "%s%s", n ? " | " : "", sc->tail[i % VM__SCAN_TAIL]);
		if (k < 0)
			break;
		n += (size_t)k;
		if (n >= size)
			n = size - 1;
	}
}

void vm__scan_judge(struct vm__scan *sc, const struct step_result *res, uint64_t timeout_ms, struct vm_result *r)
{
	if (sc->line_len) {
		scan_line(sc, sc->line, sc->line_len);
		sc->line_len = 0;
	}
	char tail[400];
	vm__scan_tail(sc, tail, sizeof(tail));
	r->why[0] = '\0';
	r->exit_code = -1;
	if (sc->have_boot)
		r->boot_ms = sc->boot_ms;
	if (sc->have_status) {
		r->exit_code = (int)sc->exit_code;
		r->status = sc->exit_code == 0 ? VM_PASS : VM_FAIL;
		if (r->status == VM_FAIL)
			snprintf(r->why, sizeof(r->why), "the command exited with status %d", r->exit_code);
	} else if (res->status == STEP_TIMED_OUT || res->status == STEP_CANCELLED) {
		r->status = VM_TIMEOUT;
		if (res->status == STEP_CANCELLED)
			snprintf(r->why, sizeof(r->why), "cancelled before a result (%s)",
				 sc->have_boot ? "the init had started" : "the init never started");
		else
			snprintf(r->why, sizeof(r->why), "no result within %llu ms (%s); console: %.300s",
				 (unsigned long long)timeout_ms,
				 sc->have_boot ? "the init had started" : "the init never started", tail);
	} else {
		r->status = VM_ERROR;
		char what[160];
		if (sc->panic[0])
			snprintf(what, sizeof(what), "%s", sc->panic);
		else if (res->exit_status >= 0)
			snprintf(what, sizeof(what), "qemu exited with status %d without a result", res->exit_status);
		else
			snprintf(what, sizeof(what), "qemu was killed by signal %d without a result", res->term_signal);
		snprintf(r->why, sizeof(r->why), "%.160s; console: %.340s", what, tail);
	}
	for (size_t i = 0; r->why[i]; i++)
		if ((unsigned char)r->why[i] < 0x20)
			r->why[i] = '?';
}

/* Turns the stamped log into the console: stamps and '\r' removed. RP_ENOMEM. */
static int console_text(const struct console *c, struct vm_result *r)
{
	char *con = malloc(c->len + 1);
	if (!con)
		return RP_ENOMEM;
	size_t n = 0;
	for (size_t at = 0; at < c->len;) {
		const char *line = c->log + at;
		const char *nl = memchr(line, '\n', c->len - at);
		size_t len = nl ? (size_t)(nl - line) : c->len - at;
		at += len + (nl ? 1 : 0);
		size_t text = 0;
		if (stamp_ms(line, len, &text) < 0)
			text = 0;
		for (size_t i = text; i < len; i++)
			if (line[i] != '\r')
				con[n++] = line[i];
		if (nl)
			con[n++] = '\n';
	}
	con[n] = '\0';
	r->console = con;
	r->console_len = n;
	return 0;
}

/* ---- QEMU ---- */

/* 0: microvm, 1: pc (microvm was rejected by this QEMU). Process-wide. */
static int machine_pc;
static pthread_mutex_t machine_lock = PTHREAD_MUTEX_INITIALIZER;

int vm__machine_pc(void)
{
	pthread_mutex_lock(&machine_lock);
	int pc = machine_pc;
	pthread_mutex_unlock(&machine_lock);
	return pc;
}

int vm__microvm_rejected(const struct vm__scan *sc, const struct step_result *res)
{
	if (res->status != STEP_FAILED || res->duration_ms >= 5000 || sc->saw_tag || sc->saw_linux ||
	    !sc->saw_microvm)
		return 0;
	/* This QEMU rejects microvm (its message names the machine): pc from now on. */
	pthread_mutex_lock(&machine_lock);
	machine_pc = 1;
	pthread_mutex_unlock(&machine_lock);
	return 1;
}

void vm__boot_argv(struct vm__boot *b, int pc)
{
	/* rtc stays on: without it the kernel's cmos_init() spends ~2.4 s (TCG) probing for it. */
	const char *machine = pc ? "pc" : "microvm,x-option-roms=off,pit=off,pic=off";
	size_t n = 0;
	/* A guest writing its output port without end would fill the worker's disk: QEMU may write so much. */
	if (b->output[0] && b->prlimit[0]) {
		snprintf(b->fsize, sizeof(b->fsize), "--fsize=%llu", (unsigned long long)b->output_max);
		b->argv[n++] = b->prlimit;
		b->argv[n++] = b->fsize;
		b->argv[n++] = "--";
	}
	b->argv[n++] = b->qemu;
	b->argv[n++] = "-M";
	b->argv[n++] = machine;
	b->argv[n++] = "-accel";
	b->argv[n++] = strcmp(b->accel, "kvm") == 0 ? "kvm" : "tcg";
	b->argv[n++] = "-cpu";
	b->argv[n++] = "max";
	b->argv[n++] = "-m";
	b->argv[n++] = b->mem;
	b->argv[n++] = "-smp";
	b->argv[n++] = b->smp;
	b->argv[n++] = "-nodefaults";
	b->argv[n++] = "-no-user-config";
	b->argv[n++] = "-nographic";
	b->argv[n++] = "-no-reboot";
	b->argv[n++] = "-monitor";
	b->argv[n++] = "none";
	b->argv[n++] = "-serial";
	b->argv[n++] = "stdio";
	b->argv[n++] = "-kernel";
	b->argv[n++] = b->kernel;
	b->argv[n++] = "-initrd";
	b->argv[n++] = b->initrd;
	b->argv[n++] = "-append";
	b->argv[n++] = b->append;
	if (b->network) {
		/* restrict=on: the guest reaches nothing, neither the host nor beyond. */
		b->argv[n++] = "-netdev";
		b->argv[n++] = "user,id=net0,restrict=on";
		b->argv[n++] = "-device";
		b->argv[n++] = pc ? "virtio-net-pci,netdev=net0" : "virtio-net-device,netdev=net0";
	}
	if (b->output[0]) {
		b->argv[n++] = "-device";
		b->argv[n++] = pc ? "virtio-serial-pci" : "virtio-serial-device";
		b->argv[n++] = "-chardev";
		b->argv[n++] = b->output_chardev;
		b->argv[n++] = "-device";
		b->argv[n++] = "virtserialport,chardev=out,name=" VM_OUTPUT_NAME;
	}
	b->argv[n] = NULL;
}

/*
 * Makes b->output (a new empty file in `dir`) and b->output_chardev, QEMU's
 * -chardev for it: commas in an option's value are doubled.
 */
static int output_file(struct vm__boot *b, const char *dir, struct rp_error *err)
{
	if ((size_t)snprintf(b->output, sizeof(b->output), "%s/ripple-vm-XXXXXX.out", dir) >= sizeof(b->output)) {
		b->output[0] = '\0';
		return rp_error_set(err, RP_EINVAL, "work directory path too long: %s", dir);
	}
	int fd = mkostemps(b->output, 4, O_CLOEXEC);
	if (fd < 0) {
		int rc = rp_error_set(err, RP_EIO, "cannot create %s: %s", b->output, strerror(errno));
		b->output[0] = '\0';
		return rc;
	}
	close(fd);
	size_t n = (size_t)snprintf(b->output_chardev, sizeof(b->output_chardev), "file,id=out,path=");
	const char *s = b->output;
	for (; *s && n + 3 < sizeof(b->output_chardev); s++) {
		if (*s == ',')
			b->output_chardev[n++] = ',';
		b->output_chardev[n++] = *s;
	}
	b->output_chardev[n] = '\0';
	if (*s) /* cannot happen with the buffer's size; a cut path would lose the outputs silently */
		return rp_error_set(err, RP_EINVAL, "%s: too long a path for QEMU's -chardev", b->output);
	return 0;
}

int vm__boot_prepare(const struct vm_options *o, const struct vm_payload *p, struct vm__boot *b,
		     struct rp_error *err)
{
	return vm__guest_prepare(o, p, 1, b, err);
}

int vm__guest_prepare(const struct vm_options *o, const struct vm_payload *p, int with_qemu, struct vm__boot *b,
		      struct rp_error *err)
{
	static const struct vm_options defaults = {0};
	char kernel[PATH_MAX], init[PATH_MAX], busybox[PATH_MAX];
	int fd = -1, rc = 0;
	memset(b, 0, sizeof(*b));
	if (!o)
		o = &defaults;
	if (!p || !p->command)
		return rp_error_set(err, RP_EINVAL, "vm_run: no command");
	const char *env_kernel = getenv("RIPPLE_VM_KERNEL");
	if (o->kernel)
		snprintf(kernel, sizeof(kernel), "%s", o->kernel);
	else if (env_kernel && *env_kernel)
		snprintf(kernel, sizeof(kernel), "%s", env_kernel);
	else if (!find_kernel(kernel, sizeof(kernel)))
		return rp_error_set(err, RP_ENOTFOUND,
				    "no kernel: no /boot/vmlinuz-* (install linux-image-cloud-amd64)");
	if (!is_file(kernel))
		return rp_error_set(err, RP_ENOTFOUND, "kernel %s: not a readable file", kernel);
	if (!kernel_vmlinux(kernel, b->kernel, sizeof(b->kernel)))
		snprintf(b->kernel, sizeof(b->kernel), "%s", kernel);
	if (with_qemu && !step_find_program(o->qemu ? o->qemu : "qemu-system-x86_64", b->qemu, sizeof(b->qemu)))
		return rp_error_set(err, RP_ENOTFOUND, "%s not found (install qemu-system-x86)",
				    o->qemu ? o->qemu : "qemu-system-x86_64");
	if (!find_init(init, sizeof(init)))
		return rp_error_set(err, RP_ENOTFOUND, "ripple-vm-init not found (set RIPPLE_VM_INIT)");
	const char *bb = getenv("RIPPLE_VM_BUSYBOX");
	snprintf(busybox, sizeof(busybox), "%s", bb && *bb ? bb : "/bin/busybox");
	if (!is_file(busybox))
		return rp_error_set(err, RP_ENOTFOUND, "%s not found (install busybox-static)", busybox);

	if (!with_qemu)
		snprintf(b->accel, sizeof(b->accel), "none"); /* another hypervisor boots it */
	else if (o->accel == VM_ACCEL_AUTO)
		vm_probe(o, b->accel, NULL, NULL);
	else
		snprintf(b->accel, sizeof(b->accel), "%s", o->accel == VM_ACCEL_KVM ? "kvm" : "tcg");
	snprintf(b->mem, sizeof(b->mem), "%u", o->memory_mb ? o->memory_mb : VM_MEMORY_DEFAULT);
	snprintf(b->smp, sizeof(b->smp), "%u", o->cpus ? o->cpus : 1);
	unsigned long khz = host_tsc_khz();
	char khz_opt[64] = "";
	if (khz)
		/* lpj with the TSC delay loop is TSC Hz / HZ; Debian's kernels have HZ=250. */
		snprintf(khz_opt, sizeof(khz_opt), " tsc_early_khz=%lu lpj=%lu", khz, khz * 1000 / 250);
	snprintf(b->append, sizeof(b->append), "%s%s", VM_CMDLINE_BASE, khz_opt);

	const char *dir = o->work_dir ? o->work_dir : getenv("TMPDIR");
	if (!dir || !*dir)
		dir = "/tmp";
	if ((size_t)snprintf(b->initrd, sizeof(b->initrd), "%s/ripple-vm-XXXXXX.cpio", dir) >= sizeof(b->initrd)) {
		b->initrd[0] = '\0';
		return rp_error_set(err, RP_EINVAL, "work directory path too long: %s", dir);
	}
	if ((fd = mkostemps(b->initrd, 5, O_CLOEXEC)) < 0) {
		rc = rp_error_set(err, RP_EIO, "cannot create %s: %s", b->initrd, strerror(errno));
		b->initrd[0] = '\0';
		return rc;
	}
	struct modules mods = {0};
	b->network = o->network;
	b->output_max = o->output_max ? o->output_max : VM_OUTPUT_MAX;
	int devices = o->network || o->output;
	rc = devices ? guest_modules(kernel, vm__machine_pc(), o->network, o->output, &mods, err) : 0;
	if (rc == 0)
		rc = build_initramfs(fd, b->initrd, init, busybox, p, devices ? &mods : NULL, o->network, o->output,
				     err);
	modules_release(&mods);
	close(fd);
	if (rc == 0 && o->output) /* beside the initramfs: an empty file QEMU appends the port's bytes to */
		rc = output_file(b, dir, err);
	if (rc == 0 && o->output && with_qemu && !step_find_program("prlimit", b->prlimit, sizeof(b->prlimit)))
		rc = rp_error_set(err, RP_ENOTFOUND, "prlimit not found (util-linux): a guest's output port needs it");
	if (rc < 0) {
		vm__boot_release(b);
		return rc;
	}
	if (with_qemu)
		vm__boot_argv(b, vm__machine_pc());
	return 0;
}

void vm__boot_release(struct vm__boot *b)
{
	if (b->initrd[0])
		unlink(b->initrd);
	b->initrd[0] = '\0';
	if (b->output[0])
		unlink(b->output);
	b->output[0] = '\0';
}

static int boot_once(struct vm__boot *b, const struct vm_options *o, struct console *con, struct step_result *res,
		     struct rp_error *err)
{
	static const char *const env[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
	struct step_spec spec = {
	    .argv = b->argv,
	    .env = env,
	    .timeout_ms = o->timeout_ms ? o->timeout_ms : VM_TIMEOUT_DEFAULT,
	    .output_cap = VM_CONSOLE_CAP,
	    .grace_ms = 200,
	    .on_output = console_take,
	};
	con->len = 0;
	vm__scan_init(&con->scan);
	return step_run_sync(&spec, con, res, err);
}

int vm_run(const struct vm_options *o, const struct vm_payload *p, struct vm_result *r, struct rp_error *err)
{
	static const struct vm_options defaults = {0};
	uint64_t t0 = now_ms();
	struct console con = {0};
	struct vm__boot *b = malloc(sizeof(*b));
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->exit_code = -1;
	if (!o)
		o = &defaults;
	if (!b)
		return rp_error_set(err, RP_ENOMEM, "out of memory");
	if ((rc = vm__boot_prepare(o, p, b, err)) < 0) {
		free(b);
		return rc;
	}
	snprintf(r->accel, sizeof(r->accel), "%s", b->accel);
	struct step_result res;
	if ((rc = boot_once(b, o, &con, &res, err)) < 0)
		goto out;
	if (!b->argv[2] || strcmp(b->argv[2], "pc") != 0) {
		if (vm__microvm_rejected(&con.scan, &res)) {
			vm__boot_argv(b, 1);
			if ((rc = boot_once(b, o, &con, &res, err)) < 0)
				goto out;
		}
	}
	if (con.oom) {
		rc = rp_error_set(err, RP_ENOMEM, "out of memory reading the console");
		goto out;
	}
	if ((rc = console_text(&con, r)) < 0) {
		rp_error_set(err, rc, "out of memory reading the console");
		goto out;
	}
	vm__scan_judge(&con.scan, &res, o->timeout_ms ? o->timeout_ms : VM_TIMEOUT_DEFAULT, r);
out:
	vm__boot_release(b);
	free(b);
	free(con.log);
	if (rc < 0)
		vm_result_release(r);
	r->total_ms = now_ms() - t0;
	return rc;
}

/* ---- the probe ---- */

static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static int probe_done;
static char probe_accel[8];
static uint64_t probe_took;
static char probe_why[RP_ERROR_MAX + 64];

/*
 * The probe's answer holds for this boot of this host with this kernel and
 * QEMU, so it is kept in the VM cache as accel-BOOTID-CRC (CRC over the
 * kernel's and QEMU's paths, sizes and times, and VM_PROBE_VERSION): a worker
 * that starts again does not wait for another probe VM. 1 and `out` filled, or 0.
 */
#define VM_PROBE_VERSION "1"
static int probe_cache_path(const struct vm_options *o, char *out, size_t size)
{
	char dir[PATH_MAX - 128], kernel[PATH_MAX], qemu[PATH_MAX], boot_id[64] = "", id[3 * PATH_MAX];
	struct stat ks, qs;
	const char *env_kernel = getenv("RIPPLE_VM_KERNEL");
	if (o && o->kernel)
		snprintf(kernel, sizeof(kernel), "%s", o->kernel);
	else if (env_kernel && *env_kernel)
		snprintf(kernel, sizeof(kernel), "%s", env_kernel);
	else if (!find_kernel(kernel, sizeof(kernel)))
		return 0;
	if (!step_find_program(o && o->qemu ? o->qemu : "qemu-system-x86_64", qemu, sizeof(qemu)) ||
	    stat(kernel, &ks) < 0 || stat(qemu, &qs) < 0)
		return 0;
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
	if (!f)
		return 0;
	int ok = fgets(boot_id, sizeof(boot_id), f) != NULL;
	fclose(f);
	boot_id[strcspn(boot_id, "\n")] = '\0';
	for (char *c = boot_id; *c; c++)
		if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f') || *c == '-'))
			ok = 0;
	if (!ok || !*boot_id || !vm_cache_dir(dir, sizeof(dir)))
		return 0;
	int n = snprintf(id, sizeof(id), "%s|%s|%lld|%lld|%s|%lld|%lld", VM_PROBE_VERSION, kernel,
			 (long long)ks.st_size, (long long)ks.st_mtime, qemu, (long long)qs.st_size,
			 (long long)qs.st_mtime);
	if (n < 0 || (size_t)n >= sizeof(id))
		return 0;
	unsigned long crc = crc32(0L, (const Bytef *)id, (uInt)n);
	return (size_t)snprintf(out, size, "%s/accel-%s-%08lx", dir, boot_id, crc) < size;
}

int vm_probe(const struct vm_options *o, char accel[8], uint64_t *probe_ms, struct rp_error *err)
{
	pthread_mutex_lock(&probe_lock);
	if (!probe_done) {
		uint64_t t0 = now_ms();
		char cached[PATH_MAX], answer[8] = "";
		int have_cache = probe_cache_path(o, cached, sizeof(cached));
		snprintf(probe_accel, sizeof(probe_accel), "tcg");
		int kfd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		FILE *f = kfd >= 0 && have_cache ? fopen(cached, "r") : NULL;
		if (f) {
			if (fgets(answer, sizeof(answer), f))
				answer[strcspn(answer, "\n")] = '\0';
			fclose(f);
		}
		if (kfd < 0) {
			snprintf(probe_why, sizeof(probe_why), "/dev/kvm: %s", strerror(errno));
		} else if (strcmp(answer, "kvm") == 0 || strcmp(answer, "tcg") == 0) {
			close(kfd);
			snprintf(probe_accel, sizeof(probe_accel), "%s", answer);
			snprintf(probe_why, sizeof(probe_why), "the probe's answer kept in %.900s", cached);
		} else {
			close(kfd);
			struct vm_options po = o ? *o : (struct vm_options){0};
			po.accel = VM_ACCEL_KVM;
			po.timeout_ms = VM_PROBE_TIMEOUT;
			struct vm_payload pp = {.command = "true"};
			struct vm_result pr;
			struct rp_error perr = {.msg = ""};
			int ran = vm_run(&po, &pp, &pr, &perr) == 0;
			if (!ran) {
				snprintf(probe_why, sizeof(probe_why), "kvm probe: %.900s", perr.msg);
			} else {
				if (pr.status == VM_PASS)
					snprintf(probe_accel, sizeof(probe_accel), "kvm");
				else
					snprintf(probe_why, sizeof(probe_why), "kvm probe %s: %.200s",
						 vm_status_name(pr.status), pr.why);
				vm_result_release(&pr);
			}
			probe_took = now_ms() - t0;
			/* Only a VM that booted under KVM or hung there is an answer worth keeping. */
			if (ran && have_cache) {
				char tmp[PATH_MAX + 16];
				snprintf(tmp, sizeof(tmp), "%s.%ld", cached, (long)getpid());
				FILE *w = fopen(tmp, "w");
				if (w) {
					int ok = fprintf(w, "%s\n", probe_accel) > 0;
					if (fclose(w) == 0 && ok)
						rename(tmp, cached);
				}
				unlink(tmp);
			}
		}
		probe_done = 1;
	}
	snprintf(accel, 8, "%s", probe_accel);
	if (probe_ms)
		*probe_ms = probe_took;
	if (err && *probe_why)
		rp_error_set(err, 0, "%s", probe_why);
	pthread_mutex_unlock(&probe_lock);
	return 0;
}
