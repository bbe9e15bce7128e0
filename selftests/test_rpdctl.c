// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * rpdctl from the outside: every command, good and bad, with its exit
 * status and its exact message. The -j documents are read back whole with
 * a strict JSON reader and checked against real connections made to
 * workers in this process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>

#include "kselftest_harness.h"
#include "json.h"
#include "rpd.h"
#include "rpd_test.h"
#include "rpd_expect.h"

#define NW		4
#define ADDR		"127.0.0.1:8080"
#define NAME_RULE	"use 1-64 of A-Z a-z 0-9 _ - (bpffs refuses dots)"
#define POLICIES	"least-conn, p2c, round-robin, hash"

/* A NULL-terminated argument list, for the table-driven cases. */
#define ARGS(...)	((const char *const []){ __VA_ARGS__, NULL })

/* --- the JSON reader on its own ------------------------------------------- */

/* Set when built with ASan: the harness leaves with _exit(), which skips
 * LeakSanitizer's own check.
 */
extern int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static bool parses(const char *text, size_t len)
{
	struct json_value *v;
	char err[128];
	char *copy;
	bool ok;

	/* an exact-size copy without a NUL: ASan sees any read past @len */
	copy = malloc(len ? len : 1);
	if (!copy)
		return false;
	memcpy(copy, text, len);
	v = json_parse(copy, len, err, sizeof(err));
	ok = v != NULL;
	json_free(v);
	free(copy);
	return ok;
}

TEST(json_reader_reads_documents)
{
	static const char text[] =
		" {\"a\": [1, -2.5e2, 0, {\"b\": \"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"}],\n"
		"  \"t\": true, \"f\": false, \"n\": null, \"e\": {}, \"ea\": [],"
		" \"u\": \"\xc3\xa9\", \"x\": 0.5E-1} \r\n";
	struct json_value *v;
	const char *nested;
	char err[128];

	v = json_parse(text, strlen(text), err, sizeof(err));
	ASSERT_NE(NULL, v) TH_LOG("%s", err);
	EXPECT_EQ(JSON_OBJECT, v->type);
	EXPECT_EQ(8, json_len(v, ""));
	EXPECT_EQ(v, json_get(v, ""));
	EXPECT_EQ(4, json_len(v, "a"));
	EXPECT_EQ(1, json_num(v, "a[0]"));
	EXPECT_EQ(-250, json_num(v, "a[1]"));
	EXPECT_EQ(0, json_num(v, "a[2]"));
	EXPECT_EQ(0.05, json_num(v, "x"));
	EXPECT_STREQ("q\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80", json_str(v, "a[3].b"));
	EXPECT_EQ(1, json_get_bool(v, "t"));
	EXPECT_EQ(0, json_get_bool(v, "f"));
	EXPECT_EQ(JSON_NULL, json_get(v, "n")->type);
	EXPECT_EQ(0, json_len(v, "e"));
	EXPECT_EQ(0, json_len(v, "ea"));
	EXPECT_STREQ("\xc3\xa9", json_str(v, "u"));

	/* paths that lead nowhere, or are not paths */
	EXPECT_EQ(NULL, json_get(v, "a[4]"));
	EXPECT_EQ(NULL, json_get(v, "a[-1]"));
	EXPECT_EQ(NULL, json_get(v, "a[]"));
	EXPECT_EQ(NULL, json_get(v, "a[1"));
	EXPECT_EQ(NULL, json_get(v, "a[0]x"));
	EXPECT_EQ(NULL, json_get(v, "a.b"));
	EXPECT_EQ(NULL, json_get(v, "a[3].c"));
	EXPECT_EQ(NULL, json_get(v, "a[3]..b"));
	EXPECT_EQ(NULL, json_get(v, ".a"));
	EXPECT_EQ(NULL, json_get(v, "t."));
	EXPECT_EQ(NULL, json_get(v, "[0]"));
	EXPECT_EQ(NULL, json_get(v, "missing"));
	EXPECT_EQ(NULL, json_get(NULL, "a"));
	/* the helpers on the wrong type */
	EXPECT_TRUE(isnan(json_num(v, "t")));
	EXPECT_TRUE(isnan(json_num(v, "missing")));
	EXPECT_EQ(NULL, json_str(v, "a"));
	EXPECT_EQ(-1, json_get_bool(v, "n"));
	EXPECT_EQ(-1, json_len(v, "u"));
	json_free(v);

	/* any value is a document */
	nested = "[[0], {\"k\": [null]}]";
	v = json_parse(nested, strlen(nested), err, sizeof(err));
	ASSERT_NE(NULL, v) TH_LOG("%s", err);
	EXPECT_EQ(0, json_num(v, "[0][0]"));
	EXPECT_EQ(JSON_NULL, json_get(v, "[1].k[0]")->type);
	json_free(v);
	v = json_parse("-0", 2, err, sizeof(err));
	ASSERT_NE(NULL, v);
	EXPECT_EQ(0, json_num(v, ""));
	json_free(v);
	v = json_parse("\"s\"", 3, err, sizeof(err));
	ASSERT_NE(NULL, v);
	EXPECT_STREQ("s", json_str(v, ""));
	json_free(v);
	if (__lsan_do_recoverable_leak_check) {
		EXPECT_EQ(0, __lsan_do_recoverable_leak_check());
	}
}

TEST(json_reader_refuses_what_is_not_json)
{
	static const char *const bad[] = {
		"", " ", "{", "}", "[", "]", "[1,]", "[1 2]", "[,1]", "{\"a\":1,}",
		"{\"a\" 1}", "{a:1}", "{\"a\":}", "{1:2}", "{\"a\":1}x", "{}{}",
		"[01]", "[1.]", "[.5]", "[-]", "[1e]", "[1e+]", "[+1]", "[0x10]",
		"[NaN]", "[Infinity]", "[-Infinity]", "[1e999]", "\"abc", "\"a\\x\"",
		"\"\\u12\"", "\"\\u12g4\"", "\"\\ud800\"", "\"\\udc00\"",
		"\"\\ud800\\u0041\"", "\"\\u0000\"", "\"tab\there\"", "\"nl\nhere\"",
		"\"\xff\"", "\"\xc0\xaf\"", "\"\xed\xa0\x80\"", "\"\xe9\"",
		"\"\xf4\x90\x80\x80\"", "{\"a\":1,\"a\":2}", "tru", "nul", "True",
		"'s'", "[1] [2]", "\xef\xbb\xbf[]",
	};
	static const char mutations[] = "\"\\{}[],:0x\xff";
	static const char good[] =
		"{\"group\": \"t\", \"slots\": [{\"slot\": 3, \"share\": 33.3333, "
		"\"drain\": false, \"s\": \"\\u00e9\\n\"}], \"n\": null}";
	char deep[200], buf[sizeof(good)], err[128];
	struct json_value *v;
	size_t i, k;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = json_parse(bad[i], strlen(bad[i]), err, sizeof(err));
		EXPECT_EQ(NULL, v) TH_LOG("accepted: %s", bad[i]);
		EXPECT_NE(NULL, strstr(err, " at offset ")) TH_LOG("%s: '%s'", bad[i], err);
		json_free(v);
	}
	/* a NUL inside the text is not the end of it */
	EXPECT_FALSE(parses("[1]\0", 4));
	EXPECT_FALSE(parses("\"a\0b\"", 5));

	/* nesting is bounded, so no input can exhaust the stack */
	memset(deep, '[', 64);
	memset(deep + 64, ']', 64);
	EXPECT_TRUE(parses(deep, 128));
	memset(deep, '[', 65);
	memset(deep + 65, ']', 65);
	EXPECT_FALSE(parses(deep, 130));
	memset(deep, '[', sizeof(deep));
	EXPECT_FALSE(parses(deep, sizeof(deep)));

	/* no proper prefix of the document is one, and no one-byte change
	 * may crash or leak (under ASan, the reader's real test)
	 */
	EXPECT_TRUE(parses(good, strlen(good)));
	for (i = 0; i < strlen(good); i++) {
		EXPECT_FALSE(parses(good, i)) TH_LOG("prefix of %zu accepted", i);
	}
	for (i = 0; i < strlen(good); i++) {
		for (k = 0; k < strlen(mutations); k++) {
			memcpy(buf, good, sizeof(good));
			buf[i] = mutations[k];
			parses(buf, strlen(good));
		}
	}
	if (__lsan_do_recoverable_leak_check) {
		EXPECT_EQ(0, __lsan_do_recoverable_leak_check());
	}
}

/* --- rpdctl ------------------------------------------------------------------- */

/* rpdctl running in the background (stats --watch), stdout on a pipe */
struct bg {
	pid_t pid;
	int out, err;
	char buf[65536];
	size_t len;
};

FIXTURE(rpdctl) {
	char bpffs[64];
	char scratch[64];	/* a plain directory under /tmp, if a test made one */
	struct rpd_group *g;
	struct rpd_worker *w[NW];
	int nw;
	struct rpdt_out o;
	struct bg bg;
};

FIXTURE_SETUP(rpdctl)
{
	ASSERT_EQ(0, rpdt_sandbox(self->bpffs, sizeof(self->bpffs)));
}

FIXTURE_TEARDOWN(rpdctl)
{
	int i;

	/* a test stopped early must not leave a watcher behind */
	if (self->bg.pid > 0) {
		kill(self->bg.pid, SIGKILL);
		waitpid(self->bg.pid, NULL, 0);
	}
	/* workers first: their slot pointers live in the group's mapping */
	for (i = 0; i < self->nw; i++)
		rpd_worker_close(self->w[i]);
	rpd_group_close(self->g);
	if (self->scratch[0])
		rmdir(self->scratch);
	rpdt_sandbox_done(self->bpffs);
}

/* rpdctl --bpffs @bpffs [@pre] ARGS... [@post] */
static int run_ctl(struct rpdt_out *o, const char *bpffs, const char *pre,
		   const char *const *args, const char *post)
{
	const char *argv[32];
	int n = 0;

	argv[n++] = "rpdctl";
	if (bpffs) {
		argv[n++] = "--bpffs";
		argv[n++] = bpffs;
	}
	if (pre)
		argv[n++] = pre;
	while (*args && n < 30)
		argv[n++] = *args++;
	if (post)
		argv[n++] = post;
	argv[n] = NULL;
	return rpdt_run(o, "rpdctl", argv);
}

/* "load t --policy x" from an argument list, for the logs */
static const char *joined(const char *const *args)
{
	static char buf[512];
	size_t n = 0;

	buf[0] = '\0';
	for (; *args; args++)
		n += snprintf(buf + n, n < sizeof(buf) ? sizeof(buf) - n : 0,
			      "%s'%s'", n ? " " : "", *args);
	return buf;
}

#define CTL(...)	ASSERT_EQ(0, rpdt_ctl(&self->o, self->bpffs, __VA_ARGS__, NULL))
#define CTL_OK(...) do {							\
	CTL(__VA_ARGS__);							\
	ASSERT_EQ(0, self->o.status) TH_LOG("%s: %s", #__VA_ARGS__, self->o.err); \
	EXPECT_STREQ("", self->o.err);						\
} while (0)

static char *fmt(char *buf, size_t len, const char *f, ...)
	__attribute__((format(printf, 3, 4)));
static char *fmt(char *buf, size_t len, const char *f, ...)
{
	va_list ap;

	va_start(ap, f);
	vsnprintf(buf, len, f, ap);
	va_end(ap);
	return buf;
}

/* The entries of @dir, sorted and space-separated; "-" if it is missing. */
static char *listing(char *buf, size_t len, const char *dir)
{
	struct dirent **ents;
	size_t n = 0;
	int i, nents;

	buf[0] = '\0';
	nents = scandir(dir, &ents, NULL, alphasort);
	if (nents < 0)
		return fmt(buf, len, "%s", errno == ENOENT ? "-" : strerror(errno));
	for (i = 0; i < nents; i++) {
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, ".."))
			n += snprintf(buf + n, n < len ? len - n : 0, "%s%s",
				      n ? " " : "", ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return buf;
}

/* The groups' directory, BPFFS/rpd: "-" until a load succeeds. */
static char *root_listing(FIXTURE_DATA(rpdctl) *self, char *buf, size_t len)
{
	char root[128];

	return listing(buf, len, fmt(root, sizeof(root), "%s/rpd", self->bpffs));
}

/* stdout as one JSON document; the test stops if it is not one. */
static struct json_value *parse_doc(struct __test_metadata *_metadata,
				    const char *text)
{
	struct json_value *doc;
	char err[128];

	doc = json_parse(text, strlen(text), err, sizeof(err));
	ASSERT_NE(NULL, doc) TH_LOG("%s in:\n%s", err, text);
	return doc;
}

/* json_num(), json_str() and json_get_bool() with a printf-style path; str()
 * never returns NULL, so it can go straight into EXPECT_STREQ.
 */
/* A JSON path from a format; each use consumes it at once, so one
 * buffer serves every num()/str()/flag() in an expression.
 */
static const char *at(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *at(const char *f, ...)
{
	static char path[128];
	va_list ap;

	va_start(ap, f);
	vsnprintf(path, sizeof(path), f, ap);
	va_end(ap);
	return path;
}

static const char *str_or_none(const char *s)
{
	return s ? s : "(not a string)";
}

#define num(doc, ...)	json_num(doc, at(__VA_ARGS__))
#define flag(doc, ...)	json_get_bool(doc, at(__VA_ARGS__))
#define str(doc, ...)	str_or_none(json_str(doc, at(__VA_ARGS__)))

/* %.6g in rpdctl's JSON: six significant digits */
static bool near(double want, double got)
{
	return fabs(want - got) <= 1e-5 * fmax(1.0, fabs(want));
}

static int lines(const char *s)
{
	int n = 0;

	for (; (s = strchr(s, '\n')); s++)
		n++;
	return n;
}

/* The index in @array (a path) of the row for @slot, or -1. */
static int row_of(const struct json_value *doc, const char *array, int slot)
{
	long i, n = json_len(doc, array);

	for (i = 0; i < n; i++)
		if (num(doc, "%s[%ld].slot", array, i) == slot)
			return i;
	return -1;
}

static char *slot_arg(char buf[16], const struct rpd_worker *w)
{
	return fmt(buf, 16, "%d", rpd_worker_slot(w));
}

/* Load "t" (16 slots) and start @n workers on ADDR in this process. */
static void start_workers(struct __test_metadata *_metadata,
			  FIXTURE_DATA(rpdctl) *self, const char *policy, int n)
{
	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 16, policy));
	ASSERT_EQ(0, rpd_group_open("t", self->bpffs, &self->g))
		TH_LOG("%s", rpd_errmsg());
	for (self->nw = 0; self->nw < n; self->nw++) {
		ASSERT_EQ(0, rpd_listen(self->g, ADDR, NULL, &self->w[self->nw]))
			TH_LOG("%s", rpd_errmsg());
	}
}

/* "rpdctl -j stats t", parsed */
static struct json_value *stats_doc(struct __test_metadata *_metadata,
				    FIXTURE_DATA(rpdctl) *self)
{
	CTL_OK("-j", "stats", "t");
	return parse_doc(_metadata, self->o.out);
}

/* --- load ----------------------------------------------------------------- */

TEST_F(rpdctl, load_pins_and_refuses_a_second_load)
{
	static const char *const pins[] = {
		"prog", "socks", "slots", "config", "counters", "selected",
	};
	char dir[128], p[256], buf[512], want[512];
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), id;
	struct rpd_counters c;
	struct json_value *doc;
	struct stat st;
	size_t i;
	int fd;

	fmt(dir, sizeof(dir), "%s/rpd/t", self->bpffs);
	CTL("load", "t", "--max-workers", "16");
	ASSERT_EQ(0, self->o.status) TH_LOG("%s", self->o.err);
	EXPECT_STREQ("", self->o.err);
	EXPECT_STREQ("t", root_listing(self, buf, sizeof(buf)));
	EXPECT_STREQ("config conns counters prog selected slots socks tracker", listing(buf, sizeof(buf), dir));
	for (i = 0; i < sizeof(pins) / sizeof(pins[0]); i++) {
		fmt(p, sizeof(p), "%s/%s", dir, pins[i]);
		ASSERT_EQ(0, stat(p, &st)) TH_LOG("%s: %s", p, strerror(errno));
		EXPECT_TRUE(S_ISREG(st.st_mode));
		EXPECT_EQ(0600, st.st_mode & 07777) TH_LOG("%s", p);
	}
	/* the pins are the objects: a real sk_reuseport program, readable maps */
	fd = bpf_obj_get(fmt(p, sizeof(p), "%s/prog", dir));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bpf_obj_get_info_by_fd(fd, &info, &len));
	close(fd);
	EXPECT_EQ(BPF_PROG_TYPE_SK_REUSEPORT, info.type);
	id = info.id;
	EXPECT_STREQ(fmt(want, sizeof(want),
			 "group 't' loaded: policy least-conn, 16 slots, prog id %u, pinned at %s\n",
			 id, dir), self->o.out);
	ASSERT_EQ(0, rpdt_counters(self->bpffs, "t", &c));
	EXPECT_EQ(0, c.selected);

	/* never overwritten, not even with other options */
	CTL("load", "t", "--max-workers", "32", "--policy", "hash");
	expect_error(_metadata, &self->o, 1,
		     "group 't' is already loaded (%s); run 'rpdctl unload t' first", dir);
	doc = stats_doc(_metadata, self);
	EXPECT_EQ(16, num(doc, "nr_slots"));
	EXPECT_STREQ("least-conn", str(doc, "policy"));
	json_free(doc);
	fd = bpf_obj_get(fmt(p, sizeof(p), "%s/prog", dir));
	ASSERT_LE(0, fd);
	memset(&info, 0, sizeof(info));
	len = sizeof(info);
	ASSERT_EQ(0, bpf_obj_get_info_by_fd(fd, &info, &len));
	close(fd);
	EXPECT_EQ(id, info.id);
	EXPECT_STREQ("t", root_listing(self, buf, sizeof(buf)));

	CTL_OK("-j", "load", "u", "--policy", "p2c", "--max-workers", "8");
	doc = parse_doc(_metadata, self->o.out);
	EXPECT_EQ(6, json_len(doc, ""));
	EXPECT_STREQ("u", str(doc, "group"));
	EXPECT_EQ(1, flag(doc, "ok"));
	EXPECT_STREQ("p2c", str(doc, "policy"));
	EXPECT_EQ(8, num(doc, "nr_slots"));
	EXPECT_LT(0, num(doc, "prog_id"));
	EXPECT_NE(id, num(doc, "prog_id"));
	EXPECT_STREQ(fmt(p, sizeof(p), "%s/rpd/u", self->bpffs), str(doc, "path"));
	json_free(doc);
}

TEST_F(rpdctl, load_max_workers)
{
	static const char *const bad[] = {
		"0", "1025", "abc", "-1", "", "1x", " 5", "+5", "0x10",
		"99999999999999999999999",
	};
	static const struct {
		const char *arg;
		int slots;
	} good[] = { { "1", 1 }, { "256", 256 }, { "1024", 1024 }, { NULL, 64 } };
	struct json_value *doc;
	struct rpd_group *g;
	char name[16], buf[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CTL("load", "t", "--max-workers", bad[i]);
		expect_error(_metadata, &self->o, 2,
			     "invalid --max-workers '%s': use 1-1024", bad[i]);
	}
	CTL("load", "t", "--max-workers=0");
	expect_error(_metadata, &self->o, 2, "invalid --max-workers '0': use 1-1024");
	CTL("load", "t", "--max-workers");
	expect_error(_metadata, &self->o, 2,
		     "load: option '--max-workers' needs an argument; see 'rpdctl load help'");
	/* not even BPFFS/rpd was made */
	EXPECT_STREQ("-", root_listing(self, buf, sizeof(buf)));

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		fmt(name, sizeof(name), "g%d", good[i].slots);
		if (good[i].arg) {
			CTL_OK("load", name, "--max-workers", good[i].arg);
		} else {
			CTL_OK("load", name);
		}
		CTL_OK("-j", "stats", name);
		doc = parse_doc(_metadata, self->o.out);
		EXPECT_EQ(good[i].slots, num(doc, "nr_slots"));
		json_free(doc);
		ASSERT_EQ(0, rpd_group_open(name, self->bpffs, &g)) TH_LOG("%s", rpd_errmsg());
		EXPECT_EQ(good[i].slots, rpd_group_nr_slots(g));
		rpd_group_close(g);
	}
}

TEST_F(rpdctl, load_policy)
{
	static const char *const policies[] = { "least-conn", "p2c", "round-robin", "hash" };
	static const char *const bad[] = { "bogus", "", "Least-Conn", "least-conn " };
	struct json_value *doc;
	char name[16], buf[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CTL("load", "t", "--policy", bad[i]);
		expect_error(_metadata, &self->o, 2,
			     "invalid policy '%s': use one of " POLICIES, bad[i]);
	}
	EXPECT_STREQ("-", root_listing(self, buf, sizeof(buf)));

	for (i = 0; i < 4; i++) {
		CTL_OK("load", fmt(name, sizeof(name), "p%zu", i), "--policy", policies[i]);
		EXPECT_NE(NULL, strstr(self->o.out, fmt(buf, sizeof(buf), ": policy %s, 64 slots,",
							policies[i])));
	}
	CTL_OK("-j", "show");
	doc = parse_doc(_metadata, self->o.out);
	ASSERT_EQ(4, json_len(doc, "groups"));
	for (i = 0; i < 4; i++) {
		EXPECT_STREQ(fmt(name, sizeof(name), "p%zu", i), str(doc, "groups[%zu].group", i));
		EXPECT_STREQ(policies[i], str(doc, "groups[%zu].policy", i));
	}
	json_free(doc);
}

TEST_F(rpdctl, failed_loads_leave_nothing_behind)
{
	const struct {
		const char *const *args;
		const char *msg;
	} bad[] = {
		{ ARGS("load"), "load: missing GROUP; see 'rpdctl load help'" },
		{ ARGS("load", "t", "u"), "load: unexpected argument 'u'; see 'rpdctl load help'" },
		{ ARGS("load", "t", "--bogus"), "load: unknown option '--bogus'; see 'rpdctl load help'" },
		{ ARGS("load", "t", "-x"), "load: unknown option '-x'; see 'rpdctl load help'" },
		{ ARGS("load", "t", "--policy"), "load: option '--policy' needs an argument; see 'rpdctl load help'" },
		{ ARGS("load", "a.b"), "invalid group name 'a.b': " NAME_RULE },
	};
	char root[128], buf[512], want[256];
	int go[2], i, status, won = 0, lost = 0;
	pid_t pids[8];

	fmt(root, sizeof(root), "%s/rpd", self->bpffs);
	for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		ASSERT_EQ(0, run_ctl(&self->o, self->bpffs, NULL, bad[i].args, NULL));
		expect_error(_metadata, &self->o, 2, "%s", bad[i].msg);
		EXPECT_STREQ("-", root_listing(self, buf, sizeof(buf))) TH_LOG("%s", joined(bad[i].args));
	}

	CTL_OK("load", "t");
	CTL("load", "t");
	EXPECT_EQ(1, self->o.status);
	EXPECT_STREQ("t", listing(buf, sizeof(buf), root));

	/* Eight loads of one group at once: one wins, the others lose either
	 * at the first check or at the rename, and no loser may leave its
	 * temporary directory behind.
	 */
	fmt(want, sizeof(want),
	    "rpdctl: group 'c' is already loaded (%s/c); run 'rpdctl unload c' first\n", root);
	ASSERT_EQ(0, pipe(go));
	for (i = 0; i < 8; i++) {
		pids[i] = fork();
		ASSERT_LE(0, pids[i]);
		if (pids[i] == 0) {
			static struct rpdt_out o;
			char b;

			close(go[1]);
			if (read(go[0], &b, 1) < 0 ||
			    rpdt_ctl(&o, self->bpffs, "load", "c", "--max-workers", "4", NULL))
				_exit(3);
			_exit(o.status == 0 ? 0 : o.status == 1 && !strcmp(o.err, want) ? 1 : 2);
		}
	}
	close(go[0]);
	close(go[1]);
	for (i = 0; i < 8; i++) {
		ASSERT_EQ(pids[i], waitpid(pids[i], &status, 0));
		ASSERT_TRUE(WIFEXITED(status));
		won += WEXITSTATUS(status) == 0;
		lost += WEXITSTATUS(status) == 1;
	}
	EXPECT_EQ(1, won);
	EXPECT_EQ(7, lost);
	EXPECT_STREQ("c t", listing(buf, sizeof(buf), root));
	EXPECT_STREQ("config conns counters prog selected slots socks tracker",
		     listing(buf, sizeof(buf), fmt(want, sizeof(want), "%s/c", root)));
}

/* --- upgrade ----------------------------------------------------------------- */

/* Whether the program pinned as @prog uses the map pinned as @pin. */
static bool prog_uses_pin(const char *bpffs, const char *prog, const char *pin)
{
	struct bpf_prog_info info = {};
	struct bpf_map_info minfo = {};
	__u32 len = sizeof(info), mlen = sizeof(minfo), ids[16], i;
	char path[256];
	bool found = false;
	int fd, mfd;

	snprintf(path, sizeof(path), "%s/rpd/t/%s", bpffs, pin);
	mfd = bpf_obj_get(path);
	snprintf(path, sizeof(path), "%s/rpd/t/%s", bpffs, prog);
	fd = bpf_obj_get(path);
	info.nr_map_ids = 16;
	info.map_ids = (__u64)(unsigned long)ids;
	if (mfd >= 0 && fd >= 0 && !bpf_obj_get_info_by_fd(mfd, &minfo, &mlen) &&
	    !bpf_obj_get_info_by_fd(fd, &info, &len))
		for (i = 0; i < info.nr_map_ids && i < 16; i++)
			found |= ids[i] == minfo.id;
	if (fd >= 0)
		close(fd);
	if (mfd >= 0)
		close(mfd);
	return found;
}

TEST_F(rpdctl, upgrade_keeps_slots_and_counters)
{
	int count[NW] = {}, i;
	struct rpd_counters c;
	struct json_value *doc;
	__u32 before, after, tracker;
	char want[256], buf[256];

	CTL("upgrade", "t");
	expect_error(_metadata, &self->o, 1, "group 't' is not loaded (no %s/rpd/t)", self->bpffs);
	CTL("upgrade");
	expect_error(_metadata, &self->o, 2, "upgrade: missing GROUP; see 'rpdctl upgrade help'");

	start_workers(_metadata, self, "round-robin", NW);
	ASSERT_EQ(0, rpdt_spread(self->w, NW, ADDR, 2 * NW, count, NULL));
	before = rpdt_pinned_prog(self->bpffs, "t", "prog", false);
	ASSERT_NE(0, before);
	tracker = rpdt_pinned_prog(self->bpffs, "t", "tracker", false);
	ASSERT_NE(0, tracker);

	CTL_OK("-j", "upgrade", "t");
	after = rpdt_pinned_prog(self->bpffs, "t", "prog", false);
	EXPECT_NE(before, after);
	EXPECT_NE(tracker, rpdt_pinned_prog(self->bpffs, "t", "tracker", false));
	doc = parse_doc(_metadata, self->o.out);
	EXPECT_EQ(after, num(doc, "prog_id"));
	EXPECT_EQ(1, num(doc, "addresses"));
	json_free(doc);
	fmt(want, sizeof(want), "%s/rpd/t", self->bpffs);
	EXPECT_STREQ("config conns counters prog selected slots socks tracker",
		     listing(buf, sizeof(buf), want));
	/* a tracker linked before the upgrade stays, and reads the ends
	 * from the map the new program records attached connections in;
	 * the new tracker, for the next first attach, shares it too
	 */
	EXPECT_TRUE(prog_uses_pin(self->bpffs, "prog", "conns"));
	EXPECT_TRUE(prog_uses_pin(self->bpffs, "prog", "slots"));
	EXPECT_TRUE(prog_uses_pin(self->bpffs, "tracker", "conns"));
	EXPECT_TRUE(prog_uses_pin(self->bpffs, "tracker", "slots"));

	/* the new program serves the same slots, policy and counters:
	 * round-robin goes on where it was, and nothing is lost
	 */
	ASSERT_EQ(0, rpdt_spread(self->w, NW, ADDR, 2 * NW, count, NULL));
	for (i = 0; i < NW; i++)
		EXPECT_EQ(4, count[i]) TH_LOG("worker %d", i);
	ASSERT_EQ(0, rpdt_counters(self->bpffs, "t", &c));
	EXPECT_EQ(4 * NW, c.selected);
	EXPECT_EQ(0, c.fallback);
	doc = stats_doc(_metadata, self);
	EXPECT_STREQ("round-robin", str(doc, "policy"));
	for (i = 0; i < NW; i++)
		EXPECT_EQ(4, num(doc, "slots[%d].dispatched", i));
	json_free(doc);
}

TEST_F(rpdctl, load_removes_what_a_killed_load_left)
{
	char root[128], dead_dir[256], live_dir[256], pin[300], buf[512], want[512];
	int fd, status;
	pid_t dead;

	/* the temporary directory of a load killed after its first pin */
	dead = fork();
	ASSERT_LE(0, dead);
	if (dead == 0)
		_exit(0);
	ASSERT_EQ(dead, waitpid(dead, &status, 0));
	fmt(root, sizeof(root), "%s/rpd", self->bpffs);
	ASSERT_EQ(0, mkdir(root, 0700));
	fmt(dead_dir, sizeof(dead_dir), "%s/t~loading~%d", root, (int)dead);
	fmt(live_dir, sizeof(live_dir), "%s/t~loading~%d", root, (int)getpid());
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 8, 1, NULL);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, mkdir(dead_dir, 0700));
	ASSERT_EQ(0, bpf_obj_pin(fd, fmt(pin, sizeof(pin), "%s/config", dead_dir)));
	/* one whose process lives may be a load in progress */
	ASSERT_EQ(0, mkdir(live_dir, 0700));
	close(fd);

	CTL("load", "t");
	EXPECT_EQ(0, self->o.status);
	EXPECT_STREQ(fmt(want, sizeof(want), "rpdctl: removed %s, left by a load that was killed\n",
			 dead_dir), self->o.err);
	fmt(want, sizeof(want), "t t~loading~%d", (int)getpid());
	EXPECT_STREQ(want, listing(buf, sizeof(buf), root));
	ASSERT_EQ(0, rmdir(live_dir));
}

/* --- names and filesystems ---------------------------------------------------- */

TEST_F(rpdctl, group_names)
{
	char n65[66], n64[65], buf[512], p[256];
	const char *const bad[] = {
		"../x", "a/b", "a.b", "", ".", "..", n65, "a b", "a~b", "\xc3\xa9",
	};
	struct json_value *doc;
	size_t i, k;

	memset(n65, 'a', 65);
	n65[65] = '\0';
	memset(n64, 'b', 64);
	n64[64] = '\0';
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *const *forms[] = {
			ARGS("load", bad[i]), ARGS("unload", bad[i]),
			ARGS("show", bad[i]), ARGS("stats", bad[i]),
			ARGS("set", bad[i], "policy", "hash"),
			ARGS("set", bad[i], "drain", "0", "on"),
		};

		for (k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
			ASSERT_EQ(0, run_ctl(&self->o, self->bpffs, NULL, forms[k], NULL));
			expect_error(_metadata, &self->o, 2, "invalid group name '%s': " NAME_RULE, bad[i]);
		}
	}
	EXPECT_STREQ("-", root_listing(self, buf, sizeof(buf)));

	/* 64 is the longest, and every command takes it */
	CTL_OK("load", n64);
	fmt(p, sizeof(p), "group '%s' loaded: policy least-conn, 64 slots, prog id ", n64);
	EXPECT_EQ(0, strncmp(p, self->o.out, strlen(p))) TH_LOG("%s", self->o.out);
	CTL_OK("-j", "show", n64);
	doc = parse_doc(_metadata, self->o.out);
	EXPECT_STREQ(n64, str(doc, "groups[0].group"));
	json_free(doc);
	CTL_OK("-j", "stats", n64);
	doc = parse_doc(_metadata, self->o.out);
	EXPECT_STREQ(n64, str(doc, "group"));
	json_free(doc);
	CTL_OK("set", n64, "policy", "hash");
	CTL_OK("unload", n64);
	EXPECT_STREQ("", root_listing(self, buf, sizeof(buf)));
}

TEST_F(rpdctl, bpffs_must_be_a_bpf_filesystem)
{
	const char *const *forms[] = {
		ARGS("load", "t"), ARGS("unload", "t"), ARGS("show"),
		ARGS("show", "t"), ARGS("stats", "t"), ARGS("set", "t", "policy", "hash"),
		ARGS("set", "t", "weight", "0", "2"),
	};
	char missing[128], dir[128], buf[512];
	size_t k;

	snprintf(self->scratch, sizeof(self->scratch), "/tmp/rpdt-plain-XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->scratch));
	fmt(missing, sizeof(missing), "%s/missing", self->scratch);
	for (k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
		ASSERT_EQ(0, run_ctl(&self->o, self->scratch, NULL, forms[k], NULL));
		expect_error(_metadata, &self->o, 1,
			     "%s is not a bpf filesystem; mount one with: mount -t bpf bpf %s",
			     self->scratch, self->scratch);
		ASSERT_EQ(0, run_ctl(&self->o, missing, NULL, forms[k], NULL));
		expect_error(_metadata, &self->o, 1,
			     "%s does not exist; create it and mount a bpf filesystem on it: mkdir -p %s && mount -t bpf bpf %s",
			     missing, missing, missing);
		ASSERT_EQ(0, run_ctl(&self->o, "/dev/null", NULL, forms[k], NULL));
		expect_error(_metadata, &self->o, 1,
			     "/dev/null is not a directory; give a bpf filesystem with --bpffs");
		ASSERT_EQ(0, run_ctl(&self->o, "", NULL, forms[k], NULL));
		expect_error(_metadata, &self->o, 2, "--bpffs needs a directory");
	}
	/* nothing was made in the plain directory */
	EXPECT_STREQ("", listing(buf, sizeof(buf), self->scratch));

	/* trailing slashes do not double up, and --bpffs may follow the
	 * command (the later one wins)
	 */
	fmt(dir, sizeof(dir), "%s///", self->bpffs);
	ASSERT_EQ(0, run_ctl(&self->o, dir, NULL, ARGS("load", "t"), NULL));
	ASSERT_EQ(0, self->o.status) TH_LOG("%s", self->o.err);
	EXPECT_NE(NULL, strstr(self->o.out, fmt(buf, sizeof(buf), ", pinned at %s/rpd/t\n", self->bpffs)));
	ASSERT_EQ(0, run_ctl(&self->o, self->scratch, NULL,
			     ARGS("load", "u", "--bpffs", self->bpffs), NULL));
	ASSERT_EQ(0, self->o.status) TH_LOG("%s", self->o.err);
	EXPECT_STREQ("t u", root_listing(self, buf, sizeof(buf)));
	EXPECT_STREQ("", listing(buf, sizeof(buf), self->scratch));
}

/* --- unload --------------------------------------------------------------------- */

TEST_F(rpdctl, unload)
{
	char dir[128], root[128], p[256], buf[512];
	struct json_value *doc;
	int fd;

	fmt(root, sizeof(root), "%s/rpd", self->bpffs);
	fmt(dir, sizeof(dir), "%s/t", root);
	CTL("unload", "t");
	expect_error(_metadata, &self->o, 1, "group 't' is not loaded (no %s)", dir);

	CTL_OK("load", "t");
	CTL_OK("unload", "t");
	EXPECT_STREQ("group 't' unloaded; workers still serving keep their dispatcher\n", self->o.out);
	EXPECT_STREQ("", listing(buf, sizeof(buf), root));
	CTL("unload", "t");
	expect_error(_metadata, &self->o, 1, "group 't' is not loaded (no %s)", dir);

	CTL_OK("load", "t");
	CTL_OK("-j", "unload", "t");
	doc = parse_doc(_metadata, self->o.out);
	EXPECT_EQ(2, json_len(doc, ""));
	EXPECT_STREQ("t", str(doc, "group"));
	EXPECT_EQ(1, flag(doc, "ok"));
	json_free(doc);
	EXPECT_STREQ("", listing(buf, sizeof(buf), root));

	CTL("unload");
	expect_error(_metadata, &self->o, 2, "unload: missing GROUP; see 'rpdctl unload help'");
	CTL("unload", "t", "u");
	expect_error(_metadata, &self->o, 2, "unload: unexpected argument 'u'; see 'rpdctl unload help'");
	CTL("unload", "t", "--force");
	expect_error(_metadata, &self->o, 2, "unload: unknown option '--force'; see 'rpdctl unload help'");

	/* something rpdctl did not pin: refused whole, nothing removed */
	CTL_OK("load", "t");
	fd = bpf_obj_get(fmt(p, sizeof(p), "%s/prog", dir));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bpf_obj_pin(fd, fmt(p, sizeof(p), "%s/extra", dir)));
	close(fd);
	CTL("unload", "t");
	expect_error(_metadata, &self->o, 1,
		     "cannot remove %s: it holds 'extra', which rpdctl did not pin; remove it by hand", dir);
	EXPECT_STREQ("config conns counters extra prog selected slots socks tracker", listing(buf, sizeof(buf), dir));
	ASSERT_EQ(0, unlink(p));
	CTL_OK("unload", "t");
	EXPECT_STREQ("-", listing(buf, sizeof(buf), dir));
}

TEST_F(rpdctl, unload_while_serving)
{
	int count[NW] = {}, i, which;
	struct json_value *doc;
	struct rpd_group *g;
	char dir[128];

	start_workers(_metadata, self, "least-conn", NW);
	CTL_OK("unload", "t");
	fmt(dir, sizeof(dir), "%s/rpd/t", self->bpffs);
	EXPECT_EQ(-ENOENT, rpd_group_open("t", self->bpffs, &g));
	CTL("stats", "t");
	expect_error(_metadata, &self->o, 1, "group 't' is not loaded (no %s)", dir);

	/* still dispatched by the program, by least-conn: evenly ... */
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 2 * NW, count, NULL));
	for (i = 0; i < NW; i++) {
		EXPECT_EQ(2, count[i]) TH_LOG("worker %d", i);
	}
	/* ... and by the load the workers still report */
	rpd_conn_done(self->w[2]);
	rpd_conn_done(self->w[2]);
	for (i = 0; i < 2; i++) {
		which = rpdt_which(self->w, NW, ADDR, NULL);
		EXPECT_EQ(2, which);
	}

	/* a new group of that name is another group: the old workers are
	 * not in it and its counters see none of their connections
	 */
	CTL_OK("load", "t");
	memset(count, 0, sizeof(count));
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, NW, count, NULL));
	for (i = 0; i < NW; i++) {
		EXPECT_EQ(1, count[i]) TH_LOG("worker %d", i);
	}
	doc = stats_doc(_metadata, self);
	EXPECT_EQ(0, json_len(doc, "slots"));
	EXPECT_EQ(0, num(doc, "counters.selected"));
	json_free(doc);
}

/* --- show ------------------------------------------------------------------- */

TEST_F(rpdctl, show)
{
	const char *const addrs[3] = { ADDR, ADDR, "[::1]:8081" };
	char want[1024], p[256];
	struct json_value *doc;
	int i, k, slot;

	CTL_OK("show");
	EXPECT_STREQ(fmt(want, sizeof(want), "no group loaded under %s/rpd\n", self->bpffs), self->o.out);
	CTL_OK("-j", "show");
	EXPECT_STREQ("{\"groups\": []}\n", self->o.out);

	ASSERT_EQ(0, rpdt_load(self->bpffs, "u", 4, "round-robin"));
	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 16, NULL));
	/* an interrupted load's directory is no group */
	ASSERT_EQ(0, mkdir(fmt(p, sizeof(p), "%s/rpd/t~loading~1", self->bpffs), 0700));
	ASSERT_EQ(0, rpd_group_open("t", self->bpffs, &self->g));
	for (self->nw = 0; self->nw < 3; self->nw++) {
		ASSERT_EQ(0, rpd_listen(self->g, addrs[self->nw], NULL, &self->w[self->nw]))
			TH_LOG("%s", rpd_errmsg());
	}

	CTL_OK("show");
	EXPECT_STREQ("GROUP  POLICY       SLOTS  IN USE\n"
		     "t      least-conn      16       3\n"
		     "u      round-robin      4       0\n", self->o.out);

	CTL_OK("show", "t");
	k = snprintf(want, sizeof(want),
		     "GROUP  POLICY       SLOTS  IN USE\n"
		     "t      least-conn      16       3\n"
		     "\n"
		     " SLOT       PID  OWNER                   SOCKET  ADDRESS\n");
	/* in slot order */
	for (slot = 0; slot < 16; slot++) {
		for (i = 0; i < 3; i++) {
			if (rpd_worker_slot(self->w[i]) == slot)
				k += snprintf(want + k, sizeof(want) - k, "%5d  %8d  librpd    %20llu  %s\n",
					      slot, getpid(),
					      (unsigned long long)rpdt_cookie(rpd_worker_fd(self->w[i])),
					      addrs[i]);
		}
	}
	EXPECT_STREQ(want, self->o.out);
	CTL_OK("show", "u");
	EXPECT_STREQ("GROUP  POLICY       SLOTS  IN USE\n"
		     "u      round-robin      4       0\n"
		     "\n"
		     "no slot in use\n", self->o.out);

	/* with -j both forms list the slots, in slot order */
	CTL_OK("-j", "show");
	doc = parse_doc(_metadata, self->o.out);
	EXPECT_EQ(1, json_len(doc, ""));
	ASSERT_EQ(2, json_len(doc, "groups"));
	EXPECT_EQ(5, json_len(doc, "groups[0]"));
	EXPECT_STREQ("t", str(doc, "groups[0].group"));
	EXPECT_STREQ("least-conn", str(doc, "groups[0].policy"));
	EXPECT_EQ(16, num(doc, "groups[0].nr_slots"));
	EXPECT_EQ(3, num(doc, "groups[0].slots_in_use"));
	ASSERT_EQ(3, json_len(doc, "groups[0].slots"));
	for (i = 0; i < 3; i++) {
		k = row_of(doc, "groups[0].slots", rpd_worker_slot(self->w[i]));
		ASSERT_LE(0, k) TH_LOG("worker %d's slot not listed", i);
		EXPECT_EQ(6, json_len(doc, fmt(p, sizeof(p), "groups[0].slots[%d]", k)));
		EXPECT_STREQ("librpd", str(doc, "groups[0].slots[%d].owner", k));
		EXPECT_EQ(0, num(doc, "groups[0].slots[%d].holder", k));
		EXPECT_EQ(getpid(), num(doc, "groups[0].slots[%d].pid", k));
		EXPECT_STREQ(addrs[i], str(doc, "groups[0].slots[%d].address", k));
	}
	for (i = 1; i < 3; i++) {
		EXPECT_LT(num(doc, "groups[0].slots[%d].slot", i - 1),
			  num(doc, "groups[0].slots[%d].slot", i));
	}
	EXPECT_STREQ("u", str(doc, "groups[1].group"));
	EXPECT_STREQ("round-robin", str(doc, "groups[1].policy"));
	EXPECT_EQ(4, num(doc, "groups[1].nr_slots"));
	EXPECT_EQ(0, num(doc, "groups[1].slots_in_use"));
	EXPECT_EQ(0, json_len(doc, "groups[1].slots"));
	json_free(doc);

	/* one group: the same object, alone; -p indents it */
	CTL_OK("-j", "show", "t");
	doc = parse_doc(_metadata, self->o.out);
	ASSERT_EQ(1, json_len(doc, "groups"));
	EXPECT_STREQ("t", str(doc, "groups[0].group"));
	EXPECT_EQ(3, json_len(doc, "groups[0].slots"));
	json_free(doc);
	CTL_OK("show", "t", "-p");
	EXPECT_LT(10, lines(self->o.out));
	doc = parse_doc(_metadata, self->o.out);
	EXPECT_EQ(3, num(doc, "groups[0].slots_in_use"));
	EXPECT_STREQ(addrs[2], str(doc, "groups[0].slots[%d].address",
				   row_of(doc, "groups[0].slots", rpd_worker_slot(self->w[2]))));
	json_free(doc);

	CTL("show", "nope");
	expect_error(_metadata, &self->o, 1, "group 'nope' is not loaded (no %s/rpd/nope)", self->bpffs);
	CTL("show", "t", "u");
	expect_error(_metadata, &self->o, 2, "show: unexpected argument 'u'; see 'rpdctl show help'");
}

TEST_F(rpdctl, show_lists_an_unreadable_group_with_the_reason)
{
	char path[256], want[512], msg[256];
	struct json_value *doc;
	struct rpd_config cfg;
	__u32 zero = 0;
	int fd;

	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 16, NULL));
	ASSERT_EQ(0, rpdt_load(self->bpffs, "u", 4, NULL));
	/* "u" as an rpd of another ABI would have left it */
	fd = bpf_obj_get(fmt(path, sizeof(path), "%s/rpd/u/config", self->bpffs));
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, bpf_map_lookup_elem(fd, &zero, &cfg));
	cfg.abi_version = RPD_ABI_VERSION + 1;
	ASSERT_EQ(0, bpf_map_update_elem(fd, &zero, &cfg, 0));
	close(fd);
	fmt(msg, sizeof(msg),
	    "group 'u' was loaded with rpd ABI %d, this rpdctl speaks ABI %d; use a matching rpdctl, or unload the group and load it again",
	    RPD_ABI_VERSION + 1, RPD_ABI_VERSION);

	CTL_OK("show");
	EXPECT_STREQ(fmt(want, sizeof(want),
			 "GROUP  POLICY       SLOTS  IN USE\n"
			 "t      least-conn      16       0\n"
			 "u      error: %s\n", msg), self->o.out);
	CTL_OK("-j", "show");
	doc = parse_doc(_metadata, self->o.out);
	ASSERT_EQ(2, json_len(doc, "groups"));
	EXPECT_STREQ("least-conn", str(doc, "groups[0].policy"));
	EXPECT_EQ(2, json_len(doc, "groups[1]"));
	EXPECT_STREQ("u", str(doc, "groups[1].group"));
	EXPECT_STREQ(msg, str(doc, "groups[1].error"));
	json_free(doc);

	CTL("show", "u");
	expect_error(_metadata, &self->o, 1, "%s", msg);
	/* and a group directory with no pins in it */
	ASSERT_EQ(0, mkdir(fmt(path, sizeof(path), "%s/rpd/v", self->bpffs), 0700));
	CTL_OK("-j", "show");
	doc = parse_doc(_metadata, self->o.out);
	ASSERT_EQ(3, json_len(doc, "groups"));
	EXPECT_STREQ(fmt(want, sizeof(want),
			 "group 'v' is incomplete: no %s/config; run 'rpdctl unload v' and load it again",
			 path), str(doc, "groups[2].error"));
	json_free(doc);
	CTL_OK("unload", "v");
	CTL("stats", "u");
	expect_error(_metadata, &self->o, 1, "%s", msg);
	CTL("set", "u", "policy", "hash");
	expect_error(_metadata, &self->o, 1, "%s", msg);
	/* unload takes a group of any ABI: it is how one goes away */
	CTL_OK("unload", "u");
	CTL_OK("show");
	EXPECT_STREQ("GROUP  POLICY       SLOTS  IN USE\n"
		     "t      least-conn      16       0\n", self->o.out);
}

/* --- without privileges --------------------------------------------------- */

/* rpdctl ARGS run by nobody, the result in @o: shared memory, as a child
 * drops the privileges this process keeps for its teardown.
 */
static int ctl_as_nobody(struct rpdt_out *o, const char *bpffs,
			 const char *const *args)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(1);
		_exit(run_ctl(o, bpffs, NULL, args, NULL) ? 1 : 0);
	}
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -ECHILD;
}

TEST_F(rpdctl, unprivileged_is_told_to_run_as_root)
{
	const char *const *forms[] = {
		ARGS("show", "t"), ARGS("stats", "t"),
		ARGS("set", "t", "policy", "hash"), ARGS("set", "t", "drain", "0", "on"),
	};
	char dir[128], p[256], buf[512];
	struct rpdt_out *o;
	size_t k;

	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 4, NULL));
	fmt(dir, sizeof(dir), "%s/rpd/t", self->bpffs);
	o = mmap(NULL, sizeof(*o), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, o);

	/* the sandbox's bpffs is mounted 0700: nobody cannot even look */
	ASSERT_EQ(0, ctl_as_nobody(o, self->bpffs, ARGS("show")));
	expect_error(_metadata, o, 1, "cannot list %s/rpd: Permission denied (run as root)", self->bpffs);
	ASSERT_EQ(0, ctl_as_nobody(o, self->bpffs, ARGS("stats", "t")));
	expect_error(_metadata, o, 1, "cannot read %s: Permission denied (run as root)", dir);
	ASSERT_EQ(0, ctl_as_nobody(o, self->bpffs, ARGS("load", "u")));
	expect_error(_metadata, o, 1, "cannot read %s/rpd/u: Permission denied (run as root)", self->bpffs);

	/* opened up, bpf() itself refuses */
	ASSERT_EQ(0, chmod(self->bpffs, 0755));
	ASSERT_EQ(0, chmod(fmt(p, sizeof(p), "%s/rpd", self->bpffs), 0755));
	ASSERT_EQ(0, chmod(dir, 0755));
	ASSERT_EQ(0, ctl_as_nobody(o, self->bpffs, ARGS("load", "u")));
	expect_error(_metadata, o, 1,
		     "loading group 'u' needs CAP_BPF (run as root)");
	EXPECT_STREQ("t", root_listing(self, buf, sizeof(buf)));
	for (k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
		ASSERT_EQ(0, ctl_as_nobody(o, self->bpffs, forms[k]));
		expect_error(_metadata, o, 1, "reading group 't' needs CAP_DAC_OVERRIDE or the pins' owner (run as root, or see 'rpdctl load --owner')");
	}
	ASSERT_EQ(0, ctl_as_nobody(o, self->bpffs, ARGS("show")));
	EXPECT_EQ(0, o->status);
	EXPECT_STREQ("GROUP  POLICY       SLOTS  IN USE\n"
		     "t      error: reading group 't' needs CAP_DAC_OVERRIDE or the pins' owner (run as root, or see 'rpdctl load --owner')\n",
		     o->out);
	ASSERT_EQ(0, ctl_as_nobody(o, self->bpffs, ARGS("unload", "t")));
	expect_error(_metadata, o, 1, "cannot remove %s/prog: Permission denied (run as root)", dir);
	EXPECT_STREQ("config conns counters prog selected slots socks tracker", listing(buf, sizeof(buf), dir));
	munmap(o, sizeof(*o));
}

/* "uid:gid mode" of @path, or "-" */
static char *owner_mode(char *buf, size_t len, const char *path)
{
	struct stat st;

	if (stat(path, &st))
		return fmt(buf, len, "-");
	return fmt(buf, len, "%u:%u %04o", (unsigned int)st.st_uid,
		   (unsigned int)st.st_gid, (unsigned int)(st.st_mode & 07777));
}

TEST_F(rpdctl, load_owner_and_mode)
{
	const struct {
		const char *const *args;
		const char *msg;
	} bad[] = {
		{ ARGS("load", "u", "--mode", "0755"),
		  "invalid --mode '0755': use octal read/write bits, 0600 at least, e.g. 0660" },
		{ ARGS("load", "u", "--mode", "0400"),
		  "invalid --mode '0400': use octal read/write bits, 0600 at least, e.g. 0660" },
		{ ARGS("load", "u", "--mode", "9"),
		  "invalid --mode '9': use octal read/write bits, 0600 at least, e.g. 0660" },
		{ ARGS("load", "u", "--mode", "-0600"),
		  "invalid --mode '-0600': use octal read/write bits, 0600 at least, e.g. 0660" },
		{ ARGS("load", "u", "--owner", "no-such-user-rpd"),
		  "invalid --owner 'no-such-user-rpd': no such user" },
		{ ARGS("load", "u", "--owner", "nobody:no-such-group-rpd"),
		  "invalid --owner 'nobody:no-such-group-rpd': no such group" },
		{ ARGS("load", "u", "--owner", "4294967295"),
		  "invalid --owner '4294967295': no such user" },
		{ ARGS("load", "u", "--owner", ""), "invalid --owner '': no such user" },
	};
	static const char *const pins[] = {
		"prog", "socks", "slots", "config", "counters", "selected",
		"conns", "tracker",
	};
	char dir[128], p[256], buf[512];
	struct rpd_group *g;
	struct rpd_worker *w;
	struct rpdt_out *o;
	int status, i;
	size_t k;
	pid_t pid;

	for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		ASSERT_EQ(0, run_ctl(&self->o, self->bpffs, NULL, bad[k].args, NULL));
		expect_error(_metadata, &self->o, 2, "%s", bad[k].msg);
		EXPECT_STREQ("-", root_listing(self, buf, sizeof(buf))) TH_LOG("%s", joined(bad[k].args));
	}

	/* the default: root's, 0600, and BPFFS/rpd closed */
	CTL_OK("load", "t");
	fmt(dir, sizeof(dir), "%s/rpd/t", self->bpffs);
	EXPECT_STREQ("0:0 0700", owner_mode(buf, sizeof(buf), fmt(p, sizeof(p), "%s/rpd", self->bpffs)));
	EXPECT_STREQ("0:0 0700", owner_mode(buf, sizeof(buf), dir));
	EXPECT_STREQ("0:0 0600", owner_mode(buf, sizeof(buf), fmt(p, sizeof(p), "%s/slots", dir)));

	/* handed to a service account: every pin, its directory, a way in */
	CTL_OK("load", "s", "--owner", "nobody:nogroup", "--mode", "0660");
	fmt(dir, sizeof(dir), "%s/rpd/s", self->bpffs);
	EXPECT_STREQ("0:0 0701", owner_mode(buf, sizeof(buf), fmt(p, sizeof(p), "%s/rpd", self->bpffs)));
	EXPECT_STREQ("65534:65534 0710", owner_mode(buf, sizeof(buf), dir));
	for (i = 0; i < (int)(sizeof(pins) / sizeof(pins[0])); i++)
		EXPECT_STREQ("65534:65534 0660",
			     owner_mode(buf, sizeof(buf), fmt(p, sizeof(p), "%s/%s", dir, pins[i])))
			TH_LOG("pin %d", i);
	/* the programs an upgrade pins anew keep the group's owner and mode */
	CTL_OK("upgrade", "s");
	EXPECT_STREQ("65534:65534 0660", owner_mode(buf, sizeof(buf), fmt(p, sizeof(p), "%s/prog", dir)));
	EXPECT_STREQ("65534:65534 0660", owner_mode(buf, sizeof(buf), fmt(p, sizeof(p), "%s/tracker", dir)));
	/* group t is still root's alone */
	EXPECT_STREQ("0:0 0600", owner_mode(buf, sizeof(buf), fmt(p, sizeof(p), "%s/rpd/t/slots", self->bpffs)));

	/* nobody, without a capability, joins s, and is told what it lacks
	 * for t
	 */
	ASSERT_EQ(0, chmod(self->bpffs, 0711));
	o = mmap(NULL, sizeof(*o), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, o);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(10);
		if (rpd_group_open("t", self->bpffs, &g) != -EPERM)
			_exit(11);
		snprintf(o->err, sizeof(o->err), "%s", rpd_errmsg());
		if (rpd_group_open("s", self->bpffs, &g)) {
			snprintf(o->out, sizeof(o->out), "%s", rpd_errmsg());
			_exit(12);
		}
		if (rpd_listen(g, ADDR, NULL, &w)) {
			snprintf(o->out, sizeof(o->out), "%s", rpd_errmsg());
			_exit(13);
		}
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_STREQ(fmt(p, sizeof(p), "cannot open %s/rpd/t/config: permission denied (needs CAP_DAC_OVERRIDE, or the pins' owner: see 'rpdctl load --owner')",
			 self->bpffs), o->err);
	/* since 5.19 bpf() refuses only loads and map creation to a caller
	 * without CAP_BPF: opening pins is up to their modes
	 */
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("%s", o->out);
	munmap(o, sizeof(*o));
}

/* --- stats ------------------------------------------------------------------- */

TEST_F(rpdctl, stats_even_split)
{
	int count[NW] = {}, i, k, slot, rows = 0;
	struct rpd_counters c;
	struct json_value *doc;
	static const char head[] =
		"group t: policy least-conn, 16 slots, 4 in use\n\n"
		" SLOT       PID    DISPATCHED      FINISHED  IN FLIGHT   SHARE  WEIGHT  DRAIN  OWNER     SOCKET\n";
	char want[256];
	const char *l;

	start_workers(_metadata, self, "least-conn", NW);
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 3 * NW, count, NULL));
	for (i = 0; i < NW; i++) {
		ASSERT_EQ(3, count[i]) TH_LOG("worker %d", i);
	}
	rpd_conn_done(self->w[1]);
	rpd_conn_done(self->w[1]);

	doc = stats_doc(_metadata, self);
	EXPECT_EQ(6, json_len(doc, ""));
	EXPECT_STREQ("t", str(doc, "group"));
	EXPECT_STREQ("least-conn", str(doc, "policy"));
	EXPECT_EQ(16, num(doc, "nr_slots"));
	ASSERT_EQ(NW, json_len(doc, "slots"));
	for (i = 0; i < NW; i++) {
		slot = rpd_worker_slot(self->w[i]);
		k = row_of(doc, "slots", slot);
		ASSERT_LE(0, k) TH_LOG("slot %d not listed", slot);
		EXPECT_EQ(12, json_len(doc, fmt(want, sizeof(want), "slots[%d]", k)));
		EXPECT_STREQ("librpd", str(doc, "slots[%d].owner", k));
		EXPECT_EQ(rpdt_cookie(rpd_worker_fd(self->w[i])), num(doc, "slots[%d].cookie", k));
		EXPECT_EQ(getpid(), num(doc, "slots[%d].pid", k));
		EXPECT_STREQ(ADDR, str(doc, "slots[%d].address", k));
		EXPECT_EQ(3, num(doc, "slots[%d].dispatched", k));
		EXPECT_EQ(i == 1 ? 2 : 0, num(doc, "slots[%d].finished", k));
		EXPECT_EQ(i == 1 ? 1 : 3, num(doc, "slots[%d].inflight", k));
		EXPECT_EQ(25, num(doc, "slots[%d].share", k));
		EXPECT_EQ(1, num(doc, "slots[%d].weight", k));
		EXPECT_EQ(0, flag(doc, "slots[%d].drain", k));
		EXPECT_EQ(3, num(doc, "slots[%d].selected", k));
	}
	EXPECT_EQ(3, json_len(doc, "balance"));
	EXPECT_EQ(1, num(doc, "balance.jain"));
	EXPECT_EQ(1, num(doc, "balance.max_min"));
	EXPECT_EQ(0, num(doc, "balance.cov"));
	EXPECT_EQ(5, json_len(doc, "counters"));
	EXPECT_EQ(3 * NW, num(doc, "counters.selected"));
	EXPECT_EQ(0, num(doc, "counters.fallback"));
	EXPECT_EQ(0, num(doc, "counters.empty"));
	EXPECT_EQ(0, num(doc, "counters.migrated"));
	EXPECT_EQ(0, num(doc, "counters.errors"));
	json_free(doc);
	ASSERT_EQ(0, rpdt_counters(self->bpffs, "t", &c));
	EXPECT_EQ(3 * NW, c.selected);

	CTL_OK("stats", "t");
	EXPECT_EQ(0, strncmp(head, self->o.out, strlen(head))) TH_LOG("%s", self->o.out);
	for (i = 0; i < NW; i++) {
		fmt(want, sizeof(want), "\n%5d  %8d  %12d  %12d  %9d  %5.1f%%  %6d  %5s  librpd    %llu\n",
		    rpd_worker_slot(self->w[i]), getpid(), 3, i == 1 ? 2 : 0,
		    i == 1 ? 1 : 3, 25.0, 1, "off",
		    (unsigned long long)rpdt_cookie(rpd_worker_fd(self->w[i])));
		EXPECT_NE(NULL, strstr(self->o.out, want)) TH_LOG("no row '%s' in:\n%s", want, self->o.out);
	}
	for (l = self->o.out; (l = strstr(l, "    off  librpd    ")); l++)
		rows++;
	EXPECT_EQ(NW, rows);
	EXPECT_NE(NULL, strstr(self->o.out, "\n\nbalance   max/min 1.00  cov 0.000  jain 1.000\n"
				"counters  selected 12  fallback 0  empty 0  migrated 0  errors 0\n"));
}

TEST_F(rpdctl, stats_one_slot_takes_all)
{
	int count[NW] = {}, i, k;
	struct json_value *doc;
	char s[16];

	start_workers(_metadata, self, "least-conn", NW);
	for (i = 1; i < NW; i++) {
		CTL_OK("set", "t", "drain", slot_arg(s, self->w[i]), "on");
	}
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, NW, count, NULL));
	ASSERT_EQ(NW, count[0]);

	/* [4 0 0 0]: jain 16 / (4 * 16) = 1/n; max/min 4 / max(0, 1);
	 * mean 1, variance (9 + 1 + 1 + 1) / 4 = 3, cov sqrt(3)
	 */
	doc = stats_doc(_metadata, self);
	for (i = 0; i < NW; i++) {
		k = row_of(doc, "slots", rpd_worker_slot(self->w[i]));
		ASSERT_LE(0, k);
		EXPECT_EQ(i ? 0 : NW, num(doc, "slots[%d].dispatched", k));
		EXPECT_EQ(i ? 0 : 100, num(doc, "slots[%d].share", k));
		EXPECT_EQ(i ? 1 : 0, flag(doc, "slots[%d].drain", k));
	}
	EXPECT_EQ(0.25, num(doc, "balance.jain"));
	EXPECT_EQ(4, num(doc, "balance.max_min"));
	EXPECT_TRUE(near(sqrt(3), num(doc, "balance.cov")))
		TH_LOG("cov %g", num(doc, "balance.cov"));
	EXPECT_EQ(NW, num(doc, "counters.selected"));
	json_free(doc);
	CTL_OK("stats", "t");
	EXPECT_NE(NULL, strstr(self->o.out, "\nbalance   max/min 4.00  cov 1.732  jain 0.250\n"))
		TH_LOG("%s", self->o.out);
	EXPECT_NE(NULL, strstr(self->o.out, "  100.0%       1    off  librpd    "));
}

TEST_F(rpdctl, stats_weighted_split)
{
	int count[NW] = {}, k;
	struct json_value *doc;
	char s[16];

	start_workers(_metadata, self, "least-conn", NW);
	CTL_OK("set", "t", "weight", slot_arg(s, self->w[1]), "3");
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 12, count, NULL));
	ASSERT_EQ(6, count[1]);

	/* [2 6 2 2]: jain 144 / (4 * 48) = 0.75; max/min 3; mean 3,
	 * variance (1 + 9 + 1 + 1) / 4 = 3, cov sqrt(3) / 3
	 */
	doc = stats_doc(_metadata, self);
	k = row_of(doc, "slots", rpd_worker_slot(self->w[1]));
	ASSERT_LE(0, k);
	EXPECT_EQ(3, num(doc, "slots[%d].weight", k));
	EXPECT_EQ(6, num(doc, "slots[%d].dispatched", k));
	EXPECT_EQ(50, num(doc, "slots[%d].share", k));
	EXPECT_EQ(0.75, num(doc, "balance.jain"));
	EXPECT_EQ(3, num(doc, "balance.max_min"));
	EXPECT_TRUE(near(sqrt(3) / 3, num(doc, "balance.cov")))
		TH_LOG("cov %g", num(doc, "balance.cov"));
	json_free(doc);
}

TEST_F(rpdctl, stats_without_traffic)
{
	struct json_value *doc;
	int i, k;

	/* no connection yet, and a worker that reports more finished than it
	 * was given: in flight stays at 0, the balance at "nothing to say"
	 */
	start_workers(_metadata, self, "least-conn", 2);
	for (i = 0; i < 3; i++)
		rpd_conn_done(self->w[0]);
	doc = stats_doc(_metadata, self);
	ASSERT_EQ(2, json_len(doc, "slots"));
	k = row_of(doc, "slots", rpd_worker_slot(self->w[0]));
	ASSERT_LE(0, k);
	EXPECT_EQ(0, num(doc, "slots[%d].dispatched", k));
	EXPECT_EQ(3, num(doc, "slots[%d].finished", k));
	EXPECT_EQ(0, num(doc, "slots[%d].inflight", k));
	EXPECT_EQ(0, num(doc, "slots[%d].share", k));
	EXPECT_EQ(1, num(doc, "balance.jain"));
	EXPECT_EQ(1, num(doc, "balance.max_min"));
	EXPECT_EQ(0, num(doc, "balance.cov"));
	EXPECT_EQ(0, num(doc, "counters.selected"));
	json_free(doc);

	/* one connection each for three: shares are not rounded in JSON.
	 * Drain steers them, as least-conn would avoid worker 0, whose
	 * finished > dispatched reads as a huge load to the program.
	 */
	ASSERT_EQ(0, rpd_listen(self->g, ADDR, NULL, &self->w[2])) TH_LOG("%s", rpd_errmsg());
	self->nw = 3;
	ASSERT_EQ(0, rpd_set_drain(self->w[0], 1));
	ASSERT_EQ(0, rpd_set_drain(self->w[1], 1));
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 1, NULL, NULL));
	ASSERT_EQ(0, rpd_set_drain(self->w[0], 0));
	ASSERT_EQ(0, rpd_set_drain(self->w[2], 1));
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 1, NULL, NULL));
	ASSERT_EQ(0, rpd_set_drain(self->w[1], 0));
	ASSERT_EQ(0, rpd_set_drain(self->w[0], 1));
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 1, NULL, NULL));
	doc = stats_doc(_metadata, self);
	for (i = 0; i < 3; i++) {
		k = row_of(doc, "slots", rpd_worker_slot(self->w[i]));
		EXPECT_EQ(1, num(doc, "slots[%d].dispatched", k));
		EXPECT_TRUE(near(100.0 / 3, num(doc, "slots[%d].share", k)))
			TH_LOG("share %g", num(doc, "slots[%d].share", k));
	}
	EXPECT_EQ(1, num(doc, "balance.jain"));
	json_free(doc);
	CTL_OK("stats", "t");
	EXPECT_NE(NULL, strstr(self->o.out, "   33.3%  "));
}

TEST_F(rpdctl, stats_errors)
{
	static const char *const bad_watch[] = {
		"0", "-1", "abc", "", "86401", "inf", "nan", "1e999", "1s",
	};
	struct json_value *doc;
	size_t i;

	CTL("stats", "t");
	expect_error(_metadata, &self->o, 1, "group 't' is not loaded (no %s/rpd/t)", self->bpffs);
	CTL("stats");
	expect_error(_metadata, &self->o, 2, "stats: missing GROUP; see 'rpdctl stats help'");
	CTL("stats", "t", "u");
	expect_error(_metadata, &self->o, 2, "stats: unexpected argument 'u'; see 'rpdctl stats help'");
	CTL("stats", "t", "--watch");
	expect_error(_metadata, &self->o, 2,
		     "stats: option '--watch' needs an argument; see 'rpdctl stats help'");
	for (i = 0; i < sizeof(bad_watch) / sizeof(bad_watch[0]); i++) {
		CTL("stats", "t", "--watch", bad_watch[i]);
		expect_error(_metadata, &self->o, 2,
			     "invalid --watch '%s': use a positive number of seconds, at most 86400",
			     bad_watch[i]);
	}

	/* a group with no worker: nothing to balance */
	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 4, "p2c"));
	doc = stats_doc(_metadata, self);
	EXPECT_STREQ("p2c", str(doc, "policy"));
	EXPECT_EQ(0, json_len(doc, "slots"));
	EXPECT_EQ(1, num(doc, "balance.jain"));
	EXPECT_EQ(1, num(doc, "balance.max_min"));
	EXPECT_EQ(0, num(doc, "balance.cov"));
	json_free(doc);
	CTL_OK("stats", "t");
	EXPECT_STREQ("group t: policy p2c, 4 slots, 0 in use\n\n"
		     "no slot in use\n\n"
		     "balance   max/min 1.00  cov 0.000  jain 1.000\n"
		     "counters  selected 0  fallback 0  empty 0  migrated 0  errors 0\n",
		     self->o.out);
}

/* --- stats --watch: rpdctl in the background, read through a pipe ---------- */

static int bg_start(struct bg *b, const char *const argv[])
{
	char path[PATH_MAX];
	int o[2], e[2];

	memset(b, 0, sizeof(*b));
	snprintf(path, sizeof(path), "%s/rpdctl", rpdt_build_dir());
	if (pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC))
		return -errno;
	b->pid = fork();
	if (b->pid < 0)
		return -errno;
	if (b->pid == 0) {
		dup2(o[1], 1);
		dup2(e[1], 2);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(o[1]);
	close(e[1]);
	b->out = o[0];
	b->err = e[0];
	return 0;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Collect stdout for @ms, or until it holds @want lines (0: any number).
 * True at end of file.
 */
static bool bg_read(struct bg *b, int ms, int want)
{
	struct pollfd p = { .fd = b->out, .events = POLLIN };
	long end = now_ms() + ms;
	ssize_t n;

	for (;;) {
		if (want && lines(b->buf) >= want)
			return false;
		if (now_ms() >= end)
			return false;
		if (poll(&p, 1, end - now_ms()) <= 0)
			continue;
		if (b->len + 1 >= sizeof(b->buf))
			return true;
		n = read(b->out, b->buf + b->len, sizeof(b->buf) - 1 - b->len);
		if (n <= 0)
			return true;
		b->len += n;
		b->buf[b->len] = '\0';
	}
}

/* Wait for the end of stdout (3 s at most, then SIGKILL); its exit code,
 * 128+signal, or -1 if it had to be killed. stderr lands in @err.
 */
static int bg_wait(struct bg *b, char *err, size_t len)
{
	bool eof = bg_read(b, 3000, 0);
	ssize_t n;
	int status;

	if (!eof)
		kill(b->pid, SIGKILL);
	waitpid(b->pid, &status, 0);
	b->pid = 0;
	n = read(b->err, err, len - 1);
	err[n > 0 ? n : 0] = '\0';
	close(b->out);
	close(b->err);
	if (!eof)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST_F(rpdctl, stats_watch)
{
	struct json_value *doc;
	char err[512], *line, *next;
	int docs = 0, blocks = 0;
	struct bg *b = &self->bg;
	const char *l;

	start_workers(_metadata, self, "least-conn", NW);
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, NW, NULL, NULL));

	/* -j: one document a second, each whole; Ctrl-C ends it with 0 */
	ASSERT_EQ(0, bg_start(b, ARGS("rpdctl", "--bpffs", self->bpffs, "-j",
				       "stats", "t", "--watch", "1")));
	EXPECT_FALSE(bg_read(b, 2500, 0));
	kill(b->pid, SIGINT);
	EXPECT_EQ(0, bg_wait(b, err, sizeof(err)));
	EXPECT_STREQ("", err);
	for (line = b->buf; *line; line = next) {
		next = strchr(line, '\n');
		ASSERT_NE(NULL, next) TH_LOG("unterminated: %s", line);
		*next++ = '\0';
		doc = parse_doc(_metadata, line);
		EXPECT_STREQ("t", str(doc, "group"));
		EXPECT_EQ(NW, json_len(doc, "slots"));
		EXPECT_EQ(NW, num(doc, "counters.selected"));
		json_free(doc);
		docs++;
	}
	/* at 0, 1 and 2 s */
	EXPECT_LE(2, docs);
	EXPECT_GE(4, docs);

	/* text: a pipe is no terminal, so no screen clearing */
	ASSERT_EQ(0, bg_start(b, ARGS("rpdctl", "--bpffs", self->bpffs,
				       "stats", "t", "--watch", "0.3")));
	EXPECT_FALSE(bg_read(b, 1000, 0));
	kill(b->pid, SIGTERM);
	EXPECT_EQ(0, bg_wait(b, err, sizeof(err)));
	EXPECT_STREQ("", err);
	EXPECT_EQ(NULL, strchr(b->buf, '\033'));
	for (l = b->buf; (l = strstr(l, "group t: policy least-conn, 16 slots, 4 in use\n")); l++)
		blocks++;
	EXPECT_LE(2, blocks);
	EXPECT_GE(5, blocks);
	EXPECT_NE(NULL, strstr(b->buf, "errors 0\n\ngroup t: "));
}

TEST_F(rpdctl, stats_watch_ends_when_the_group_goes)
{
	char err[512], want[256], line[300], *last;
	struct bg *b = &self->bg;
	struct json_value *doc;

	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 4, NULL));
	ASSERT_EQ(0, bg_start(b, ARGS("rpdctl", "--bpffs", self->bpffs, "-j",
				       "stats", "t", "--watch", "0.5")));
	ASSERT_FALSE(bg_read(b, 3000, 1));
	ASSERT_EQ(1, lines(b->buf));
	/* stopped between two readings, so it cannot read a half-removed group */
	kill(b->pid, SIGSTOP);
	CTL_OK("unload", "t");
	kill(b->pid, SIGCONT);
	EXPECT_EQ(1, bg_wait(b, err, sizeof(err)));
	fmt(want, sizeof(want), "group 't' is not loaded (no %s/rpd/t)", self->bpffs);
	EXPECT_STREQ(fmt(line, sizeof(line), "rpdctl: %s\n", want), err);
	/* the documents before it, then the error as one more */
	ASSERT_LE(2, lines(b->buf));
	b->buf[b->len - 1] = '\0';
	last = strrchr(b->buf, '\n') + 1;
	doc = parse_doc(_metadata, last);
	EXPECT_EQ(1, json_len(doc, ""));
	EXPECT_STREQ(want, str(doc, "error"));
	json_free(doc);
	last[-1] = '\0';
	doc = parse_doc(_metadata, strrchr(b->buf, '\n') ? strrchr(b->buf, '\n') + 1 : b->buf);
	EXPECT_STREQ("t", str(doc, "group"));
	json_free(doc);
}

/* --- set ------------------------------------------------------------------- */

TEST_F(rpdctl, set_policy)
{
	int seq[3 * NW], i, j;
	struct json_value *doc;

	start_workers(_metadata, self, "least-conn", NW);
	CTL_OK("set", "t", "policy", "round-robin");
	EXPECT_STREQ("group 't': policy round-robin\n", self->o.out);
	doc = stats_doc(_metadata, self);
	EXPECT_STREQ("round-robin", str(doc, "policy"));
	json_free(doc);
	/* round-robin: every worker once, then the same order again */
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 3 * NW, NULL, seq));
	for (i = 0; i < NW; i++) {
		for (j = i + 1; j < NW; j++) {
			EXPECT_NE(seq[i], seq[j]) TH_LOG("first round repeats %d", seq[i]);
		}
	}
	for (i = NW; i < 3 * NW; i++) {
		EXPECT_EQ(seq[i - NW], seq[i]) TH_LOG("position %d", i);
	}

	CTL_OK("-j", "set", "t", "policy", "hash");
	doc = parse_doc(_metadata, self->o.out);
	EXPECT_EQ(3, json_len(doc, ""));
	EXPECT_STREQ("t", str(doc, "group"));
	EXPECT_EQ(1, flag(doc, "ok"));
	EXPECT_STREQ("hash", str(doc, "policy"));
	json_free(doc);
	CTL_OK("set", "t", "policy", "p2c");
	CTL_OK("set", "t", "policy", "least-conn");
	doc = stats_doc(_metadata, self);
	EXPECT_STREQ("least-conn", str(doc, "policy"));
	/* a policy change leaves the counters alone */
	EXPECT_EQ(3 * NW, num(doc, "counters.selected"));
	json_free(doc);

	CTL("set", "nope", "policy", "hash");
	expect_error(_metadata, &self->o, 1, "group 'nope' is not loaded (no %s/rpd/nope)", self->bpffs);
}

TEST_F(rpdctl, set_drain)
{
	int count[NW] = {}, i, k;
	struct json_value *doc;
	char s[16], want[128];

	start_workers(_metadata, self, "least-conn", NW);
	CTL_OK("set", "t", "drain", slot_arg(s, self->w[0]), "on");
	EXPECT_STREQ(fmt(want, sizeof(want), "group 't': slot %s drain on\n", s), self->o.out);
	doc = stats_doc(_metadata, self);
	for (i = 0; i < NW; i++) {
		k = row_of(doc, "slots", rpd_worker_slot(self->w[i]));
		EXPECT_EQ(i == 0, flag(doc, "slots[%d].drain", k));
	}
	json_free(doc);
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 6, count, NULL));
	EXPECT_EQ(0, count[0]);
	for (i = 1; i < NW; i++) {
		EXPECT_EQ(2, count[i]) TH_LOG("worker %d", i);
	}

	CTL_OK("-j", "set", "t", "drain", s, "off");
	doc = parse_doc(_metadata, self->o.out);
	EXPECT_EQ(4, json_len(doc, ""));
	EXPECT_STREQ("t", str(doc, "group"));
	EXPECT_EQ(1, flag(doc, "ok"));
	EXPECT_EQ(rpd_worker_slot(self->w[0]), num(doc, "slot"));
	EXPECT_EQ(0, flag(doc, "drain"));
	json_free(doc);
	/* back in: it alone has nothing in flight, so it takes the next two */
	memset(count, 0, sizeof(count));
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 2, count, NULL));
	EXPECT_EQ(2, count[0]);

	/* set stored one field and lost none of the program's counts */
	doc = stats_doc(_metadata, self);
	for (i = 0; i < NW; i++) {
		k = row_of(doc, "slots", rpd_worker_slot(self->w[i]));
		EXPECT_EQ(0, flag(doc, "slots[%d].drain", k));
		EXPECT_EQ(2, num(doc, "slots[%d].dispatched", k));
	}
	EXPECT_EQ(8, num(doc, "counters.selected"));
	json_free(doc);
}

TEST_F(rpdctl, set_weight)
{
	int count[NW] = {}, k;
	struct json_value *doc;
	char s[16], want[64];

	start_workers(_metadata, self, "least-conn", NW);
	slot_arg(s, self->w[1]);
	CTL_OK("set", "t", "weight", s, "3");
	EXPECT_STREQ(fmt(want, sizeof(want), "group 't': slot %s weight 3\n", s), self->o.out);
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 12, count, NULL));
	EXPECT_EQ(2, count[0]);
	EXPECT_EQ(6, count[1]);
	EXPECT_EQ(2, count[2]);
	EXPECT_EQ(2, count[3]);

	/* the bounds are accepted */
	CTL_OK("-j", "set", "t", "weight", s, "65535");
	doc = parse_doc(_metadata, self->o.out);
	EXPECT_EQ(4, json_len(doc, ""));
	EXPECT_EQ(rpd_worker_slot(self->w[1]), num(doc, "slot"));
	EXPECT_EQ(65535, num(doc, "weight"));
	json_free(doc);
	doc = stats_doc(_metadata, self);
	k = row_of(doc, "slots", rpd_worker_slot(self->w[1]));
	EXPECT_EQ(65535, num(doc, "slots[%d].weight", k));
	json_free(doc);
	/* 6 / 65535 stays below 2 / 1: it takes the next four */
	memset(count, 0, sizeof(count));
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 4, count, NULL));
	EXPECT_EQ(4, count[1]);

	/* weight 1 again: 10 in flight against 2, it takes none of three */
	CTL_OK("set", "t", "weight", s, "1");
	memset(count, 0, sizeof(count));
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 3, count, NULL));
	EXPECT_EQ(0, count[1]);
	doc = stats_doc(_metadata, self);
	EXPECT_EQ(1, num(doc, "slots[%d].weight", k));
	EXPECT_EQ(10, num(doc, "slots[%d].dispatched", k));
	EXPECT_EQ(19, num(doc, "counters.selected"));
	json_free(doc);
}

TEST_F(rpdctl, set_bad_values_change_nothing)
{
	static char before[sizeof(self->o.out)];
	char s[16], s2[16], free_slot[16];
	int used[16] = {}, i;
	struct rpd_slot slot;
	size_t k;

	start_workers(_metadata, self, "least-conn", NW);
	ASSERT_EQ(0, rpd_set_weight(self->w[1], 2));
	ASSERT_EQ(0, rpd_set_drain(self->w[2], 1));
	ASSERT_EQ(0, rpdt_spread(self->w, self->nw, ADDR, 5, NULL, NULL));
	slot_arg(s, self->w[0]);
	slot_arg(s2, self->w[3]);
	for (i = 0; i < NW; i++)
		used[rpd_worker_slot(self->w[i])] = 1;
	for (i = 0; used[i]; i++)
		;
	fmt(free_slot, sizeof(free_slot), "%d", i);

	{
		const struct {
			const char *const *args;
			int status;
			char msg[160];
		} bad[] = {
			{ ARGS("set", "t", "weight", s, "0"), 2, "invalid weight '0': use 1-65535" },
			{ ARGS("set", "t", "weight", s, "65536"), 2, "invalid weight '65536': use 1-65535" },
			{ ARGS("set", "t", "weight", s, "abc"), 2, "invalid weight 'abc': use 1-65535" },
			{ ARGS("set", "t", "weight", s, "1.5"), 2, "invalid weight '1.5': use 1-65535" },
			{ ARGS("set", "t", "weight", s, ""), 2, "invalid weight '': use 1-65535" },
			{ ARGS("set", "t", "weight", s, "-3"), 2,
			  "set: negative numbers are never valid here; see 'rpdctl set help'" },
			{ ARGS("set", "t", "drain", s2, "maybe"), 2, "invalid drain 'maybe': use on or off" },
			{ ARGS("set", "t", "drain", s2, "ON"), 2, "invalid drain 'ON': use on or off" },
			{ ARGS("set", "t", "drain", s2, "1"), 2, "invalid drain '1': use on or off" },
			{ ARGS("set", "t", "drain", "abc", "on"), 2,
			  "invalid slot 'abc': use a slot number (see 'rpdctl show GROUP')" },
			{ ARGS("set", "t", "weight", "1e3", "2"), 2,
			  "invalid slot '1e3': use a slot number (see 'rpdctl show GROUP')" },
			{ ARGS("set", "t", "weight", "16", "2"), 1,
			  "slot 16 is out of range for group 't' (0-15)" },
			{ ARGS("set", "t", "drain", "99999", "on"), 1,
			  "slot 99999 is out of range for group 't' (0-15)" },
			{ ARGS("set", "t", "weight", free_slot, "2"), 1, "" },
			{ ARGS("set", "t", "drain", free_slot, "on"), 1, "" },
			{ ARGS("set", "t", "weight", s), 2, "set: missing WEIGHT; see 'rpdctl set help'" },
			{ ARGS("set", "t", "drain", s), 2, "set: missing on or off; see 'rpdctl set help'" },
			{ ARGS("set", "t", "weight"), 2, "set: missing SLOT; see 'rpdctl set help'" },
			{ ARGS("set", "t", "weight", s, "2", "x"), 2,
			  "set: unexpected argument 'x'; see 'rpdctl set help'" },
			{ ARGS("set", "t", "policy", "bogus"), 2,
			  "invalid policy 'bogus': use one of " POLICIES },
			{ ARGS("set", "t", "policy"), 2, "set: missing POLICY; see 'rpdctl set help'" },
			{ ARGS("set", "t", "policy", "hash", "x"), 2,
			  "set: unexpected argument 'x'; see 'rpdctl set help'" },
			{ ARGS("set", "t", "color", "red"), 2,
			  "set: unknown setting 'color': use policy, weight or drain" },
			{ ARGS("set", "t"), 2,
			  "set: missing what to set (policy, weight or drain); see 'rpdctl set help'" },
			{ ARGS("set"), 2, "set: missing GROUP; see 'rpdctl set help'" },
		};

		CTL_OK("-j", "stats", "t");
		snprintf(before, sizeof(before), "%s", self->o.out);
		for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			ASSERT_EQ(0, run_ctl(&self->o, self->bpffs, NULL, bad[k].args, NULL));
			if (bad[k].msg[0])
				expect_error(_metadata, &self->o, bad[k].status, "%s", bad[k].msg);
			else
				expect_error(_metadata, &self->o, bad[k].status,
					     "slot %s of group 't' is not in use; see 'rpdctl show t'",
					     free_slot);
			if (self->o.status != bad[k].status)
				TH_LOG("for: %s", joined(bad[k].args));
		}
	}
	CTL_OK("-j", "stats", "t");
	EXPECT_STREQ(before, self->o.out);
	for (i = 0; i < NW; i++) {
		ASSERT_EQ(0, rpdt_slot(self->bpffs, "t", rpd_worker_slot(self->w[i]), &slot));
		EXPECT_EQ(i == 1 ? 2 : 1, slot.weight);
		EXPECT_EQ(i == 2, slot.drain);
	}
	ASSERT_EQ(0, rpdt_slot(self->bpffs, "t", atoi(free_slot), &slot));
	EXPECT_EQ(1, slot.weight);
	EXPECT_EQ(0, slot.drain);
}

/* --- -j errors ---------------------------------------------------------------- */

/* Failures of every command, with a group "t" loaded. */
static const struct {
	const char *const *args;
	int status;
} json_error_cases[] = {
	{ ARGS("load", "t"), 1 },
	{ ARGS("load", "a.b"), 2 },
	{ ARGS("load"), 2 },
	{ ARGS("load", "t", "--max-workers", "0"), 2 },
	{ ARGS("load", "t", "--policy", "bogus"), 2 },
	{ ARGS("unload", "nope"), 1 },
	{ ARGS("show", "nope"), 1 },
	{ ARGS("show", "t", "u"), 2 },
	{ ARGS("show", "--bpffs", "/dev/null"), 1 },
	{ ARGS("stats", "nope"), 1 },
	{ ARGS("stats"), 2 },
	{ ARGS("stats", "t", "--watch", "0"), 2 },
	{ ARGS("stats", "t", "--bogus"), 2 },
	{ ARGS("set", "t", "-x", "policy", "hash"), 2 },
	{ ARGS("set", "t", "weight", "9", "1"), 1 },
	{ ARGS("set", "t", "drain", "0", "maybe"), 2 },
	{ ARGS("set", "t", "policy", "bogus"), 2 },
	{ ARGS("version", "extra"), 2 },
	{ ARGS("help", "nope"), 2 },
};

/* @j is the run of @plain's arguments with -j or -p added: the same exit
 * code and stderr, and on stdout one document, {"error": MSG}, MSG being
 * the stderr line without "rpdctl: ".
 */
static void expect_json_error(struct __test_metadata *_metadata,
			      const struct rpdt_out *plain,
			      const struct rpdt_out *j, bool pretty,
			      const char *what)
{
	struct json_value *doc;
	char err[128], msg[1024];
	size_t n = strlen(plain->err);

	EXPECT_EQ(plain->status, j->status) TH_LOG("%s", what);
	EXPECT_STREQ(plain->err, j->err) TH_LOG("%s", what);
	ASSERT_LT(9, n);
	ASSERT_EQ(0, strncmp(plain->err, "rpdctl: ", 8));
	/* the message is one line */
	ASSERT_EQ(plain->err + n - 1, strchr(plain->err, '\n')) TH_LOG("%s", plain->err);
	snprintf(msg, sizeof(msg), "%.*s", (int)(n - 9), plain->err + 8);

	doc = json_parse(j->out, strlen(j->out), err, sizeof(err));
	EXPECT_NE(NULL, doc) TH_LOG("%s: %s in '%s'", what, err, j->out);
	if (!doc)
		return;
	EXPECT_EQ(JSON_OBJECT, doc->type);
	EXPECT_EQ(1, json_len(doc, "")) TH_LOG("%s: %s", what, j->out);
	EXPECT_STREQ(msg, str(doc, "error"));
	json_free(doc);
	if (!pretty) {
		EXPECT_EQ(strchr(j->out, '\0') - 1, strchr(j->out, '\n')) TH_LOG("%s", what);
	}
}

TEST_F(rpdctl, json_errors)
{
	static struct rpdt_out plain;
	char what[600], bad[128];
	struct json_value *doc;
	size_t i;

	ASSERT_EQ(0, rpdt_load(self->bpffs, "t", 4, NULL));
	for (i = 0; i < sizeof(json_error_cases) / sizeof(json_error_cases[0]); i++) {
		const char *const *args = json_error_cases[i].args;

		snprintf(what, sizeof(what), "%s", joined(args));
		ASSERT_EQ(0, run_ctl(&plain, self->bpffs, NULL, args, NULL));
		EXPECT_EQ(json_error_cases[i].status, plain.status) TH_LOG("%s: %s", what, plain.err);
		EXPECT_STREQ("", plain.out) TH_LOG("%s", what);

		ASSERT_EQ(0, run_ctl(&self->o, self->bpffs, "-j", args, NULL));
		expect_json_error(_metadata, &plain, &self->o, false, what);
		ASSERT_EQ(0, run_ctl(&self->o, self->bpffs, "--json", args, NULL));
		expect_json_error(_metadata, &plain, &self->o, false, what);
		ASSERT_EQ(0, run_ctl(&self->o, self->bpffs, "-p", args, NULL));
		expect_json_error(_metadata, &plain, &self->o, true, what);
		/* among the command's arguments, even after the bad one */
		ASSERT_EQ(0, run_ctl(&self->o, self->bpffs, NULL, args, "-j"));
		expect_json_error(_metadata, &plain, &self->o, false, what);
	}

	/* rpdctl's own failures too */
	ASSERT_EQ(0, run_ctl(&plain, self->bpffs, NULL, ARGS("bogus"), NULL));
	ASSERT_EQ(0, run_ctl(&self->o, self->bpffs, "-j", ARGS("bogus"), NULL));
	expect_json_error(_metadata, &plain, &self->o, false, "bogus");
	EXPECT_STREQ("rpdctl: unknown command 'bogus'; see 'rpdctl help'\n", plain.err);

	/* a message with bytes JSON must escape: a quote, a backslash, a
	 * control character and a byte that is not UTF-8
	 */
	snprintf(bad, sizeof(bad), "%s/q\"b\\s\x01\xff", self->bpffs);
	ASSERT_EQ(0, run_ctl(&self->o, bad, "-j", ARGS("show"), NULL));
	EXPECT_EQ(1, self->o.status);
	doc = parse_doc(_metadata, self->o.out);
	EXPECT_STREQ(fmt(what, sizeof(what),
			 "%s/q\"b\\s\x01\xef\xbf\xbd does not exist; create it and mount a bpf filesystem on it: "
			 "mkdir -p %s/q\"b\\s\x01\xef\xbf\xbd && mount -t bpf bpf %s/q\"b\\s\x01\xef\xbf\xbd",
			 self->bpffs, self->bpffs, self->bpffs), str(doc, "error"));
	json_free(doc);
}

/* --- help and version ------------------------------------------------------ */

TEST_F(rpdctl, help_and_version)
{
	static const struct {
		const char *name;
		const char *usage;
	} cmds[] = {
		{ "load", "Usage: rpdctl [OPTIONS] load GROUP [--policy POLICY] [--max-workers N]\n" },
		{ "unload", "Usage: rpdctl [OPTIONS] unload GROUP\n" },
		{ "show", "Usage: rpdctl [OPTIONS] show [GROUP]\n" },
		{ "stats", "Usage: rpdctl [OPTIONS] stats GROUP [--watch SECONDS]\n" },
		{ "set", "Usage: rpdctl [OPTIONS] set GROUP policy POLICY\n"
			 "       rpdctl [OPTIONS] set GROUP weight SLOT WEIGHT\n"
			 "       rpdctl [OPTIONS] set GROUP drain SLOT { on | off }\n" },
		{ "version", "Usage: rpdctl [OPTIONS] version\n" },
		{ "help", "Usage: rpdctl [OPTIONS] help [COMMAND]\n"
			  "       rpdctl [OPTIONS] COMMAND { help | --help }\n" },
	};
	static const char *const grammar[] = {
		"Usage: rpdctl [OPTIONS] load GROUP [--policy POLICY] [--max-workers N]\n",
		"\n       rpdctl [OPTIONS] unload GROUP\n",
		"\n       rpdctl [OPTIONS] show [GROUP]\n",
		"\n       rpdctl [OPTIONS] stats GROUP [--watch SECONDS]\n",
		"\n       rpdctl [OPTIONS] set GROUP policy POLICY\n",
		"\n       rpdctl [OPTIONS] set GROUP weight SLOT WEIGHT\n",
		"\n       rpdctl [OPTIONS] set GROUP drain SLOT { on | off }\n",
		"\n       rpdctl [OPTIONS] version\n",
		"\n       rpdctl [OPTIONS] help [COMMAND]\n",
		"\n       rpdctl [OPTIONS] COMMAND { help | --help }\n",
		"\n       GROUP   := 1-64 of A-Z a-z 0-9 _ - (bpffs refuses dots)\n",
		"\n       POLICY  := { least-conn | p2c | round-robin | hash }\n",
		"\n       OPTIONS := { -j|--json | -p|--pretty | -d|--debug | --bpffs DIR }\n",
		"\nExit status: 0 ok, 1 failure, 2 usage error.\n",
	};
	static struct rpdt_out first;
	struct json_value *doc;
	char want[64];
	size_t i, k;

	CTL_OK("help");
	EXPECT_EQ(0, strncmp(grammar[0], self->o.out, strlen(grammar[0])));
	for (i = 1; i < sizeof(grammar) / sizeof(grammar[0]); i++) {
		EXPECT_NE(NULL, strstr(self->o.out, grammar[i])) TH_LOG("missing: %s", grammar[i]);
	}
	first = self->o;
	CTL_OK("--help");
	EXPECT_STREQ(first.out, self->o.out);
	CTL_OK("-h");
	EXPECT_STREQ(first.out, self->o.out);

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		const char *const *forms[] = {
			ARGS("help", cmds[i].name), ARGS(cmds[i].name, "help"),
			ARGS(cmds[i].name, "--help"), ARGS(cmds[i].name, "-h"),
		};

		for (k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
			ASSERT_EQ(0, run_ctl(&self->o, self->bpffs, NULL, forms[k], NULL));
			EXPECT_EQ(0, self->o.status) TH_LOG("%s: %s", joined(forms[k]), self->o.err);
			EXPECT_STREQ("", self->o.err);
			EXPECT_EQ(0, strncmp(cmds[i].usage, self->o.out, strlen(cmds[i].usage)))
				TH_LOG("%s:\n%s", joined(forms[k]), self->o.out);
			EXPECT_NE(NULL, strstr(self->o.out, "\n       OPTIONS := {"));
			if (k == 0) {
				first = self->o;
			} else {
				EXPECT_STREQ(first.out, self->o.out);
			}
		}
	}
	/* a command's help wins over its errors */
	CTL_OK("set", "a.b", "bogus", "--help");
	EXPECT_EQ(0, strncmp(cmds[4].usage, self->o.out, strlen(cmds[4].usage)));

	CTL_OK("version");
	EXPECT_STREQ(fmt(want, sizeof(want), "rpdctl 0.1.0 (ABI %d)\n", RPD_ABI_VERSION), self->o.out);
	CTL_OK("version", "-j");
	doc = parse_doc(_metadata, self->o.out);
	EXPECT_EQ(2, json_len(doc, ""));
	EXPECT_STREQ("0.1.0", str(doc, "version"));
	EXPECT_EQ(RPD_ABI_VERSION, num(doc, "abi"));
	json_free(doc);

	CTL("bogus");
	expect_error(_metadata, &self->o, 2, "unknown command 'bogus'; see 'rpdctl help'");
	ASSERT_EQ(0, run_ctl(&self->o, NULL, NULL, ARGS("--bogus", "show"), NULL));
	expect_error(_metadata, &self->o, 2, "unknown option '--bogus'; see 'rpdctl help'");
	ASSERT_EQ(0, run_ctl(&self->o, NULL, NULL, ARGS("-x", "show"), NULL));
	expect_error(_metadata, &self->o, 2, "unknown option '-x'; see 'rpdctl help'");
	ASSERT_EQ(0, run_ctl(&self->o, NULL, NULL, ARGS("--bpffs"), NULL));
	expect_error(_metadata, &self->o, 2, "option '--bpffs' needs an argument; see 'rpdctl help'");
	ASSERT_EQ(0, run_ctl(&self->o, NULL, NULL, ARGS("-j"), NULL));
	EXPECT_EQ(2, self->o.status);
	EXPECT_STREQ("rpdctl: missing command; see 'rpdctl help'\n", self->o.err);
	CTL("help", "nope");
	expect_error(_metadata, &self->o, 2, "unknown command 'nope'; see 'rpdctl help'");
	CTL("help", "load", "x");
	expect_error(_metadata, &self->o, 2, "help: unexpected argument 'x'; see 'rpdctl help'");
	CTL("version", "x");
	expect_error(_metadata, &self->o, 2, "version: unexpected argument 'x'; see 'rpdctl version help'");
}

/* Help is text, so with -j it goes to stderr and stdout holds one
 * document, null: wherever the -j is, as with every other option.
 */
TEST_F(rpdctl, json_flag_with_help)
{
	static const char usage[] = "Usage: rpdctl [OPTIONS] load GROUP";
	const char *const *forms[] = {
		ARGS("help", "load"), ARGS("load", "help"),
		ARGS("load", "--help"), ARGS("load", "-h"),
	};
	size_t k;

	for (k = 0; k < sizeof(forms) / sizeof(forms[0]); k++) {
		ASSERT_EQ(0, run_ctl(&self->o, self->bpffs, "-j", forms[k], NULL));
		EXPECT_EQ(0, self->o.status);
		EXPECT_STREQ("null\n", self->o.out) TH_LOG("-j %s", joined(forms[k]));
		EXPECT_EQ(0, strncmp(usage, self->o.err, strlen(usage)));
		ASSERT_EQ(0, run_ctl(&self->o, self->bpffs, NULL, forms[k], "-j"));
		EXPECT_EQ(0, self->o.status);
		EXPECT_STREQ("null\n", self->o.out) TH_LOG("%s -j", joined(forms[k]));
		EXPECT_EQ(0, strncmp(usage, self->o.err, strlen(usage)));
	}
}

/* epoll-fifo's grammar, and what it says where the module is not loaded
 * (the module itself is tested in the VM, selftests/kmod/).
 */
TEST_F(rpdctl, epoll_fifo_without_module)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char pid[16], want[256], any[32], other[32];
	socklen_t len = sizeof(sin);
	int lfd;

	if (access("/sys/module/rpd_epoll_fifo", F_OK) == 0)
		SKIP(return, "rpd_epoll_fifo is loaded on this kernel");
	snprintf(pid, sizeof(pid), "%d", getpid());

	CTL("epoll-fifo");
	expect_error(_metadata, &self->o, 2,
		     "epoll-fifo: missing what to do (status, enable, disable or mode); see 'rpdctl epoll-fifo help'");
	CTL("epoll-fifo", "start");
	expect_error(_metadata, &self->o, 2,
		     "epoll-fifo: unknown action 'start': use status, enable, disable or mode");
	CTL("epoll-fifo", "enable");
	expect_error(_metadata, &self->o, 2, "epoll-fifo enable: missing --pid PID");
	CTL("epoll-fifo", "disable", "--pid", "0");
	expect_error(_metadata, &self->o, 2, "invalid --pid '0': use a process id");
	CTL("epoll-fifo", "status", "--listen", "127.0.0.1:80");
	expect_error(_metadata, &self->o, 2, "epoll-fifo status: --listen needs --pid");
	CTL("epoll-fifo", "status", "--pid", pid, "--listen", "127.0.0.1:99999");
	expect_error(_metadata, &self->o, 2, "invalid --listen '127.0.0.1:99999': port out of range (1-65535)");
	CTL("epoll-fifo", "status", "extra");
	expect_error(_metadata, &self->o, 2, "epoll-fifo status: unexpected argument 'extra'");
	CTL("epoll-fifo", "mode");
	expect_error(_metadata, &self->o, 2, "epoll-fifo mode: missing MODE (off, listed or all)");
	CTL("epoll-fifo", "mode", "fifo");
	expect_error(_metadata, &self->o, 2, "invalid mode 'fifo': use off, listed or all");
	CTL("epoll-fifo", "mode", "all");
	expect_error(_metadata, &self->o, 1, "rpd_epoll_fifo: not loaded (insmod rpd_epoll_fifo.ko)");
	CTL("epoll-fifo", "enable", "--pid", pid);
	expect_error(_metadata, &self->o, 1,
		     "/dev/rpd_epoll_fifo: missing: the rpd_epoll_fifo module is not loaded (insmod rpd_epoll_fifo.ko)");

	CTL_OK("epoll-fifo", "status");
	EXPECT_STREQ("rpd_epoll_fifo: not loaded\n", self->o.out);
	CTL_OK("-j", "epoll-fifo", "status");
	EXPECT_STREQ("{\"loaded\": false}\n", self->o.out);

	/* the listeners of a process: this one, then none */
	CTL("epoll-fifo", "status", "--pid", pid);
	expect_error(_metadata, &self->o, 1, "process %s: no TCP listener", pid);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ASSERT_LE(0, lfd);
	ASSERT_EQ(0, bind(lfd, (struct sockaddr *)&sin, sizeof(sin)));
	ASSERT_EQ(0, listen(lfd, 8));
	ASSERT_EQ(0, getsockname(lfd, (struct sockaddr *)&sin, &len));
	snprintf(any, sizeof(any), "*:%u", ntohs(sin.sin_port));
	CTL_OK("epoll-fifo", "status", "--pid", pid, "--listen", any);
	snprintf(other, sizeof(other), "127.0.0.2:%u", ntohs(sin.sin_port));
	CTL("epoll-fifo", "status", "--pid", pid, "--listen", other);
	expect_error(_metadata, &self->o, 1, "process %s: no TCP listener on %s", pid, other);
	CTL_OK("epoll-fifo", "status", "--pid", pid);
	snprintf(want, sizeof(want),
		 "rpd_epoll_fifo: not loaded\n127.0.0.1:%u (pid %s fd %d): not registered\n",
		 ntohs(sin.sin_port), pid, lfd);
	EXPECT_STREQ(want, self->o.out);
	close(lfd);
	CTL("epoll-fifo", "status", "--pid", "2147483646");
	expect_error(_metadata, &self->o, 1, "process 2147483646: no such process");
}

TEST_HARNESS_MAIN
