/**
 * A stand-in `libfdb_c.so` for tests on machines without FoundationDB (no
 * server can be installed here and Debian does not package the client).
 *
 * It is C, compiled by the test with the system `cc`, and exports the same C
 * functions with the same signatures and `FDBKeyValue` layout as the real
 * library, so the FFI binding, the network thread, the threadsafe callback
 * and the retry loop run exactly as they would against FoundationDB. Behind
 * the API is a toy: one in-memory sorted table per process, optimistic
 * conflict checking against the write ranges of recent commits, futures
 * completed (and callbacks called) on the thread running `fdb_run_network`,
 * range reads cut into batches of at most 7 pairs so the paging loop runs.
 * It proves the binding, not FoundationDB; the real cluster is tested when
 * `FDB_CLUSTER_FILE` is set.
 *
 * Test-only exports: `fake_keyvalue_layout(i)` (offsetof/sizeof as compiled
 * under `#pragma pack(push, 4)`), `fake_inject_commit_error(code, count)`
 * (the next `count` commits fail with `code`; 1021 applies the commit first,
 * as a lost reply would), `fake_commit_count()` and
 * `fake_set_completion_delay_us(us)` (the network thread waits that long
 * before completing each future, as a slow cluster would).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const fakeFoundationDbLibrarySource = String.raw`
#define _GNU_SOURCE
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef int fdb_error_t;
typedef int fdb_bool_t;

#pragma pack(push, 4)
typedef struct { const uint8_t* key; int key_length; const uint8_t* value; int value_length; } FDBKeyValue;
#pragma pack(pop)

typedef struct FDBFuture FDBFuture;
typedef void (*FDBCallback)(FDBFuture*, void*);

int fake_keyvalue_layout(int which) {
  switch (which) {
    case 0: return (int)offsetof(FDBKeyValue, key);
    case 1: return (int)offsetof(FDBKeyValue, key_length);
    case 2: return (int)offsetof(FDBKeyValue, value);
    case 3: return (int)offsetof(FDBKeyValue, value_length);
    default: return (int)sizeof(FDBKeyValue);
  }
}

/* ---- bytes, tables, ranges ---- */

static uint8_t* dup_bytes(const uint8_t* p, int n) {
  uint8_t* out = malloc(n > 0 ? n : 1);
  if (n > 0) memcpy(out, p, n);
  return out;
}

static int compare(const uint8_t* a, int al, const uint8_t* b, int bl) {
  int n = al < bl ? al : bl;
  int c = n > 0 ? memcmp(a, b, n) : 0;
  if (c != 0) return c < 0 ? -1 : 1;
  return al == bl ? 0 : (al < bl ? -1 : 1);
}

typedef struct { uint8_t* k; int kl; uint8_t* v; int vl; } Entry;
typedef struct { Entry* items; int count; int cap; } Table;

static int lower_bound(const Table* t, const uint8_t* k, int kl) {
  int lo = 0, hi = t->count;
  while (lo < hi) { int mid = (lo + hi) / 2; if (compare(t->items[mid].k, t->items[mid].kl, k, kl) < 0) lo = mid + 1; else hi = mid; }
  return lo;
}

static int upper_bound(const Table* t, const uint8_t* k, int kl) {
  int lo = 0, hi = t->count;
  while (lo < hi) { int mid = (lo + hi) / 2; if (compare(t->items[mid].k, t->items[mid].kl, k, kl) <= 0) lo = mid + 1; else hi = mid; }
  return lo;
}

static void table_set(Table* t, const uint8_t* k, int kl, const uint8_t* v, int vl) {
  int i = lower_bound(t, k, kl);
  if (i < t->count && compare(t->items[i].k, t->items[i].kl, k, kl) == 0) {
    free(t->items[i].v);
    t->items[i].v = dup_bytes(v, vl);
    t->items[i].vl = vl;
    return;
  }
  if (t->count == t->cap) { t->cap = t->cap ? t->cap * 2 : 16; t->items = realloc(t->items, sizeof(Entry) * t->cap); }
  memmove(&t->items[i + 1], &t->items[i], sizeof(Entry) * (t->count - i));
  t->items[i].k = dup_bytes(k, kl); t->items[i].kl = kl;
  t->items[i].v = dup_bytes(v, vl); t->items[i].vl = vl;
  t->count++;
}

static void table_clear_range(Table* t, const uint8_t* b, int bl, const uint8_t* e, int el) {
  int from = lower_bound(t, b, bl), to = lower_bound(t, e, el);
  if (to <= from) return;
  for (int i = from; i < to; i++) { free(t->items[i].k); free(t->items[i].v); }
  memmove(&t->items[from], &t->items[to], sizeof(Entry) * (t->count - to));
  t->count -= to - from;
}

static void table_clear(Table* t, const uint8_t* k, int kl) {
  int i = lower_bound(t, k, kl);
  if (i < t->count && compare(t->items[i].k, t->items[i].kl, k, kl) == 0) {
    free(t->items[i].k); free(t->items[i].v);
    memmove(&t->items[i], &t->items[i + 1], sizeof(Entry) * (t->count - i - 1));
    t->count--;
  }
}

static const Entry* table_get(const Table* t, const uint8_t* k, int kl) {
  int i = lower_bound(t, k, kl);
  if (i < t->count && compare(t->items[i].k, t->items[i].kl, k, kl) == 0) return &t->items[i];
  return NULL;
}

static void table_free(Table* t) {
  for (int i = 0; i < t->count; i++) { free(t->items[i].k); free(t->items[i].v); }
  free(t->items);
  t->items = NULL; t->count = 0; t->cap = 0;
}

static void table_copy(Table* dst, const Table* src) {
  dst->count = src->count; dst->cap = src->count;
  dst->items = malloc(sizeof(Entry) * (src->count ? src->count : 1));
  for (int i = 0; i < src->count; i++) {
    dst->items[i].k = dup_bytes(src->items[i].k, src->items[i].kl); dst->items[i].kl = src->items[i].kl;
    dst->items[i].v = dup_bytes(src->items[i].v, src->items[i].vl); dst->items[i].vl = src->items[i].vl;
  }
}

typedef struct { uint8_t* b; int bl; uint8_t* e; int el; } Range;
typedef struct { Range* items; int count; int cap; } Ranges;

static void ranges_add(Ranges* r, const uint8_t* b, int bl, const uint8_t* e, int el) {
  if (r->count == r->cap) { r->cap = r->cap ? r->cap * 2 : 8; r->items = realloc(r->items, sizeof(Range) * r->cap); }
  r->items[r->count].b = dup_bytes(b, bl); r->items[r->count].bl = bl;
  r->items[r->count].e = dup_bytes(e, el); r->items[r->count].el = el;
  r->count++;
}

/* [k, k\0): the single key k. */
static void ranges_add_key(Ranges* r, const uint8_t* k, int kl) {
  uint8_t* after = malloc(kl + 1);
  if (kl > 0) memcpy(after, k, kl);
  after[kl] = 0;
  ranges_add(r, k, kl, after, kl + 1);
  free(after);
}

static void ranges_free(Ranges* r) {
  for (int i = 0; i < r->count; i++) { free(r->items[i].b); free(r->items[i].e); }
  free(r->items);
  r->items = NULL; r->count = 0; r->cap = 0;
}

static int ranges_intersect(const Ranges* a, const Ranges* b) {
  for (int i = 0; i < a->count; i++)
    for (int j = 0; j < b->count; j++) {
      const Range* x = &a->items[i]; const Range* y = &b->items[j];
      if (compare(x->b, x->bl, y->e, y->el) < 0 && compare(y->b, y->bl, x->e, x->el) < 0) return 1;
    }
  return 0;
}

/* ---- mutations ---- */

enum { M_SET, M_CLEAR, M_CLEAR_RANGE, M_ADD };
typedef struct { int kind; uint8_t* a; int al; uint8_t* b; int bl; } Mutation;

static void apply(Table* t, const Mutation* m) {
  switch (m->kind) {
    case M_SET: table_set(t, m->a, m->al, m->b, m->bl); break;
    case M_CLEAR: table_clear(t, m->a, m->al); break;
    case M_CLEAR_RANGE: table_clear_range(t, m->a, m->al, m->b, m->bl); break;
    case M_ADD: {
      /* FDB's ADD: existing value zero-extended or truncated to the operand's length, little-endian sum. */
      const Entry* old = table_get(t, m->a, m->al);
      uint8_t* sum = malloc(m->bl > 0 ? m->bl : 1);
      unsigned carry = 0;
      for (int i = 0; i < m->bl; i++) {
        unsigned x = (old && i < old->vl) ? old->v[i] : 0;
        unsigned s = x + m->b[i] + carry;
        sum[i] = (uint8_t)s; carry = s >> 8;
      }
      table_set(t, m->a, m->al, sum, m->bl);
      free(sum);
      break;
    }
  }
}

/* ---- global state ---- */

#define HISTORY_MAX 512
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static Table g_store;
static int64_t g_version = 0;
static struct { int64_t version; Ranges writes; } g_history[HISTORY_MAX];
static int g_history_start = 0, g_history_count = 0;
static int g_api = 0, g_setup = 0, g_key_limit = 10000;
static int g_inject_code = 0, g_inject_count = 0, g_commits = 0;
static volatile int g_completion_delay_us = 0;

void fake_set_completion_delay_us(int delay) { g_completion_delay_us = delay; }

void fake_inject_commit_error(int code, int count) { pthread_mutex_lock(&g_lock); g_inject_code = code; g_inject_count = count; pthread_mutex_unlock(&g_lock); }
int fake_commit_count(void) { pthread_mutex_lock(&g_lock); int n = g_commits; pthread_mutex_unlock(&g_lock); return n; }

static double now_ms(void) { struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts); return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6; }

/* ---- futures and the network thread ---- */

struct FDBFuture {
  pthread_mutex_t lock;
  int ready; fdb_error_t error;
  int present; uint8_t* value; int value_length;
  FDBKeyValue* kvs; Table kv_backing; int kv_count; int more;
  FDBCallback callback; void* parameter;
  FDBFuture* next;
};

static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static FDBFuture *q_head = NULL, *q_tail = NULL;
static int q_stop = 0;

static FDBFuture* new_future(fdb_error_t error) {
  FDBFuture* f = calloc(1, sizeof(FDBFuture));
  pthread_mutex_init(&f->lock, NULL);
  f->error = error;
  return f;
}

/* Hands the future to the network thread, which marks it ready and calls back. */
static FDBFuture* enqueue(FDBFuture* f) {
  pthread_mutex_lock(&q_lock);
  if (q_tail) q_tail->next = f; else q_head = f;
  q_tail = f;
  pthread_cond_signal(&q_cond);
  pthread_mutex_unlock(&q_lock);
  return f;
}

fdb_error_t fdb_run_network(void) {
  if (!g_setup) return 2008;
  for (;;) {
    pthread_mutex_lock(&q_lock);
    while (!q_head && !q_stop) pthread_cond_wait(&q_cond, &q_lock);
    if (!q_head && q_stop) { pthread_mutex_unlock(&q_lock); return 0; }
    FDBFuture* f = q_head;
    q_head = f->next;
    if (!q_head) q_tail = NULL;
    pthread_mutex_unlock(&q_lock);
    if (g_completion_delay_us > 0) usleep(g_completion_delay_us);
    pthread_mutex_lock(&f->lock);
    f->ready = 1;
    FDBCallback callback = f->callback; void* parameter = f->parameter;
    pthread_mutex_unlock(&f->lock);
    if (callback) callback(f, parameter);
  }
}

fdb_error_t fdb_stop_network(void) {
  pthread_mutex_lock(&q_lock); q_stop = 1; pthread_cond_signal(&q_cond); pthread_mutex_unlock(&q_lock);
  return 0;
}

fdb_error_t fdb_future_set_callback(FDBFuture* f, FDBCallback callback, void* parameter) {
  pthread_mutex_lock(&f->lock);
  if (f->ready) { pthread_mutex_unlock(&f->lock); callback(f, parameter); return 0; }
  f->callback = callback; f->parameter = parameter;
  pthread_mutex_unlock(&f->lock);
  return 0;
}

fdb_bool_t fdb_future_is_ready(FDBFuture* f) { pthread_mutex_lock(&f->lock); int r = f->ready; pthread_mutex_unlock(&f->lock); return r; }
fdb_error_t fdb_future_get_error(FDBFuture* f) { return f->error; }

fdb_error_t fdb_future_get_value(FDBFuture* f, fdb_bool_t* present, const uint8_t** value, int* length) {
  if (f->error) return f->error;
  *present = f->present; *value = f->value; *length = f->value_length;
  return 0;
}

fdb_error_t fdb_future_get_key(FDBFuture* f, const uint8_t** key, int* length) {
  if (f->error) return f->error;
  *key = f->value; *length = f->value_length;
  return 0;
}

fdb_error_t fdb_future_get_keyvalue_array(FDBFuture* f, const FDBKeyValue** out, int* count, fdb_bool_t* more) {
  if (f->error) return f->error;
  *out = f->kvs; *count = f->kv_count; *more = f->more;
  return 0;
}

void fdb_future_destroy(FDBFuture* f) {
  free(f->value); free(f->kvs); table_free(&f->kv_backing);
  pthread_mutex_destroy(&f->lock);
  free(f);
}

/* ---- errors ---- */

static int is_retryable(int code) {
  return code == 1020 || code == 1021 || code == 1007 || code == 1009 || code == 1037 || code == 1213 || code == 1039;
}

fdb_bool_t fdb_error_predicate(int predicate, fdb_error_t code) {
  if (predicate == 50000) return is_retryable(code);
  if (predicate == 50001) return code == 1021 || code == 1039;
  if (predicate == 50002) return is_retryable(code) && code != 1021 && code != 1039;
  return 0;
}

const char* fdb_get_error(fdb_error_t code) {
  switch (code) {
    case 0: return "success";
    case 1007: return "transaction_too_old";
    case 1009: return "future_version";
    case 1020: return "not_committed";
    case 1021: return "commit_unknown_result";
    case 1031: return "transaction_timed_out";
    case 1037: return "process_behind";
    case 1515: return "no_cluster_file_found";
    case 2008: return "network_not_setup";
    case 2009: return "network_already_setup";
    case 2101: return "transaction_too_large";
    case 2102: return "key_too_large";
    case 2103: return "value_too_large";
    case 2200: return "api_version_unset";
    case 2201: return "api_version_already_set";
    case 2202: return "api_version_invalid";
    case 2203: return "api_version_not_supported";
    default: return "unknown_error";
  }
}

/* ---- setup ---- */

int fdb_get_max_api_version(void) { return 730; }

fdb_error_t fdb_select_api_version_impl(int runtime_version, int header_version) {
  if (g_api) return 2201;
  if (runtime_version > header_version) return 2202;
  if (header_version > 730 || runtime_version < 13) return 2203;
  g_api = runtime_version;
  return 0;
}

fdb_error_t fdb_network_set_option(int option, const uint8_t* value, int length) {
  if (option == 40 && length > 15 && memcmp(value, "key_size_limit=", 15) == 0) {
    char text[32] = {0};
    memcpy(text, value + 15, length - 15 < 31 ? length - 15 : 31);
    g_key_limit = atoi(text);
  }
  return 0;
}

fdb_error_t fdb_setup_network(void) {
  if (!g_api) return 2200;
  if (g_setup) return 2009;
  g_setup = 1;
  return 0;
}

typedef struct { int unused; } FDBDatabase;

fdb_error_t fdb_create_database(const char* path, FDBDatabase** out) {
  if (!path || access(path, R_OK) != 0) return 1515;
  *out = calloc(1, sizeof(FDBDatabase));
  return 0;
}

void fdb_database_destroy(FDBDatabase* d) { free(d); }

/* ---- transactions ---- */

typedef struct {
  int has_read_version; int64_t read_version; double read_version_ms; double created_ms; int64_t timeout_ms;
  Table local; Mutation* log; int log_count; int log_cap; Ranges reads; int64_t bytes; fdb_error_t deferred;
} FDBTransaction;

fdb_error_t fdb_database_create_transaction(FDBDatabase* d, FDBTransaction** out) {
  (void)d;
  FDBTransaction* tr = calloc(1, sizeof(FDBTransaction));
  tr->created_ms = now_ms();
  *out = tr;
  return 0;
}

static void reset(FDBTransaction* tr) {
  table_free(&tr->local);
  for (int i = 0; i < tr->log_count; i++) { free(tr->log[i].a); free(tr->log[i].b); }
  free(tr->log); tr->log = NULL; tr->log_count = 0; tr->log_cap = 0;
  ranges_free(&tr->reads);
  tr->has_read_version = 0; tr->bytes = 0; tr->deferred = 0;
}

void fdb_transaction_destroy(FDBTransaction* tr) { reset(tr); free(tr); }

fdb_error_t fdb_transaction_set_option(FDBTransaction* tr, int option, const uint8_t* value, int length) {
  if (option == 500 && length == 8) memcpy(&tr->timeout_ms, value, 8);
  return 0;
}

/* Errors every operation checks first: the store's timeout, then FDB's 5 s read-version age. */
static fdb_error_t age_error(FDBTransaction* tr) {
  double now = now_ms();
  if (tr->timeout_ms > 0 && now - tr->created_ms > (double)tr->timeout_ms) return 1031;
  if (tr->has_read_version && now - tr->read_version_ms > 5000.0) return 1007;
  return 0;
}

static void ensure_read_version(FDBTransaction* tr) {
  if (tr->has_read_version) return;
  pthread_mutex_lock(&g_lock);
  tr->read_version = g_version;
  table_copy(&tr->local, &g_store);
  pthread_mutex_unlock(&g_lock);
  for (int i = 0; i < tr->log_count; i++) apply(&tr->local, &tr->log[i]);
  tr->has_read_version = 1;
  tr->read_version_ms = now_ms();
}

static void record(FDBTransaction* tr, int kind, const uint8_t* a, int al, const uint8_t* b, int bl) {
  if (tr->log_count == tr->log_cap) { tr->log_cap = tr->log_cap ? tr->log_cap * 2 : 16; tr->log = realloc(tr->log, sizeof(Mutation) * tr->log_cap); }
  Mutation* m = &tr->log[tr->log_count++];
  m->kind = kind; m->a = dup_bytes(a, al); m->al = al; m->b = dup_bytes(b, bl); m->bl = bl;
  tr->bytes += al + bl;
  if (al > g_key_limit || ((kind == M_CLEAR_RANGE) && bl > g_key_limit + 1)) tr->deferred = 2102;
  if ((kind == M_SET || kind == M_ADD) && bl > 100000) tr->deferred = 2103;
  if (tr->has_read_version) apply(&tr->local, m);
}

FDBFuture* fdb_transaction_get(FDBTransaction* tr, const uint8_t* key, int length, fdb_bool_t snapshot) {
  (void)snapshot;
  fdb_error_t error = age_error(tr);
  if (error) return enqueue(new_future(error));
  ensure_read_version(tr);
  ranges_add_key(&tr->reads, key, length);
  FDBFuture* f = new_future(0);
  const Entry* e = table_get(&tr->local, key, length);
  if (e) { f->present = 1; f->value = dup_bytes(e->v, e->vl); f->value_length = e->vl; }
  return enqueue(f);
}

static int resolve(const Table* t, const uint8_t* k, int kl, int or_equal, int offset) {
  int i = (or_equal ? upper_bound(t, k, kl) : lower_bound(t, k, kl)) - 1 + offset;
  if (i < 0) i = 0;
  if (i > t->count) i = t->count;
  return i;
}

/* A key selector resolved to its key (held in the future's value); past the last key, FDB's end-of-database key 0xff. */
FDBFuture* fdb_transaction_get_key(FDBTransaction* tr, const uint8_t* key, int length, fdb_bool_t or_equal, int offset, fdb_bool_t snapshot) {
  (void)snapshot;
  fdb_error_t error = age_error(tr);
  if (error) return enqueue(new_future(error));
  ensure_read_version(tr);
  int i = resolve(&tr->local, key, length, or_equal, offset);
  static const uint8_t end_of_database[1] = { 0xff };
  const uint8_t* found = i < tr->local.count ? tr->local.items[i].k : end_of_database;
  int found_length = i < tr->local.count ? tr->local.items[i].kl : 1;
  FDBFuture* f = new_future(0);
  f->value = dup_bytes(found, found_length); f->value_length = found_length;
  /* The answer depended on every key from the selector's key up to the one found (as FDB records it). */
  uint8_t* after = malloc(found_length + 1); memcpy(after, found, found_length); after[found_length] = 0;
  if (compare(key, length, after, found_length + 1) < 0) ranges_add(&tr->reads, key, length, after, found_length + 1);
  free(after);
  return enqueue(f);
}

#define BATCH_PAIRS_MAX 7

FDBFuture* fdb_transaction_get_range(FDBTransaction* tr,
    const uint8_t* bk, int bkl, fdb_bool_t b_or_equal, int b_offset,
    const uint8_t* ek, int ekl, fdb_bool_t e_or_equal, int e_offset,
    int limit, int target_bytes, int mode, int iteration, fdb_bool_t snapshot, fdb_bool_t reverse) {
  (void)target_bytes; (void)mode; (void)iteration; (void)snapshot;
  fdb_error_t error = age_error(tr);
  if (error) return enqueue(new_future(error));
  ensure_read_version(tr);
  int from = resolve(&tr->local, bk, bkl, b_or_equal, b_offset);
  int to = resolve(&tr->local, ek, ekl, e_or_equal, e_offset);
  int available = to > from ? to - from : 0;
  int take = available;
  if (limit > 0 && take > limit) take = limit;
  if (take > BATCH_PAIRS_MAX) take = BATCH_PAIRS_MAX;
  FDBFuture* f = new_future(0);
  f->kv_backing.items = malloc(sizeof(Entry) * (take ? take : 1));
  f->kvs = malloc(sizeof(FDBKeyValue) * (take ? take : 1));
  for (int n = 0; n < take; n++) {
    const Entry* e = &tr->local.items[reverse ? to - 1 - n : from + n];
    Entry* copy = &f->kv_backing.items[n];
    copy->k = dup_bytes(e->k, e->kl); copy->kl = e->kl; copy->v = dup_bytes(e->v, e->vl); copy->vl = e->vl;
    f->kvs[n].key = copy->k; f->kvs[n].key_length = copy->kl; f->kvs[n].value = copy->v; f->kvs[n].value_length = copy->vl;
  }
  f->kv_backing.count = take; f->kv_backing.cap = take;
  f->kv_count = take;
  int limited = take < available;
  f->more = limited;
  /* The read depended on the keys up to the last one returned when cut short. */
  if (!limited || take == 0) {
    ranges_add(&tr->reads, bk, bkl, ek, ekl);
  } else if (!reverse) {
    const Entry* last = &f->kv_backing.items[take - 1];
    uint8_t* after = malloc(last->kl + 1); memcpy(after, last->k, last->kl); after[last->kl] = 0;
    ranges_add(&tr->reads, bk, bkl, after, last->kl + 1);
    free(after);
  } else {
    const Entry* last = &f->kv_backing.items[take - 1];
    ranges_add(&tr->reads, last->k, last->kl, ek, ekl);
  }
  return enqueue(f);
}

void fdb_transaction_set(FDBTransaction* tr, const uint8_t* k, int kl, const uint8_t* v, int vl) { record(tr, M_SET, k, kl, v, vl); }
void fdb_transaction_clear(FDBTransaction* tr, const uint8_t* k, int kl) { record(tr, M_CLEAR, k, kl, NULL, 0); }
void fdb_transaction_clear_range(FDBTransaction* tr, const uint8_t* b, int bl, const uint8_t* e, int el) { record(tr, M_CLEAR_RANGE, b, bl, e, el); }
void fdb_transaction_atomic_op(FDBTransaction* tr, const uint8_t* k, int kl, const uint8_t* p, int pl, int op) {
  if (op == 2) record(tr, M_ADD, k, kl, p, pl); else tr->deferred = 2006;
}

FDBFuture* fdb_transaction_commit(FDBTransaction* tr) {
  fdb_error_t error = age_error(tr);
  if (!error) error = tr->deferred;
  if (!error && tr->bytes > 10000000) error = 2101;
  if (error) return enqueue(new_future(error));
  pthread_mutex_lock(&g_lock);
  int injected = 0;
  if (g_inject_count > 0) { g_inject_count--; injected = g_inject_code; }
  if (injected && injected != 1021) { pthread_mutex_unlock(&g_lock); return enqueue(new_future(injected)); }
  if (tr->log_count == 0) { pthread_mutex_unlock(&g_lock); return enqueue(new_future(0)); }
  if (tr->has_read_version && tr->reads.count > 0) {
    if (g_history_count == HISTORY_MAX && g_history[g_history_start].version > tr->read_version + 1) {
      pthread_mutex_unlock(&g_lock);
      return enqueue(new_future(1007));
    }
    for (int n = 0; n < g_history_count; n++) {
      int i = (g_history_start + n) % HISTORY_MAX;
      if (g_history[i].version > tr->read_version && ranges_intersect(&tr->reads, &g_history[i].writes)) {
        pthread_mutex_unlock(&g_lock);
        return enqueue(new_future(1020));
      }
    }
  }
  Ranges writes = {0};
  for (int i = 0; i < tr->log_count; i++) {
    Mutation* m = &tr->log[i];
    apply(&g_store, m);
    if (m->kind == M_CLEAR_RANGE) ranges_add(&writes, m->a, m->al, m->b, m->bl); else ranges_add_key(&writes, m->a, m->al);
  }
  g_version++;
  if (g_history_count == HISTORY_MAX) { ranges_free(&g_history[g_history_start].writes); g_history_start = (g_history_start + 1) % HISTORY_MAX; g_history_count--; }
  int slot = (g_history_start + g_history_count) % HISTORY_MAX;
  g_history[slot].version = g_version; g_history[slot].writes = writes; g_history_count++;
  g_commits++;
  pthread_mutex_unlock(&g_lock);
  return enqueue(new_future(injected));
}

FDBFuture* fdb_transaction_on_error(FDBTransaction* tr, fdb_error_t code) {
  if (!is_retryable(code)) return enqueue(new_future(code));
  reset(tr);
  return enqueue(new_future(0));
}
`;

/**
 * Compiles the stand-in library into `directory` and returns its path, or
 * the reason it could not (no C compiler on this machine).
 */
export function buildFakeFoundationDbLibrary(directory: string): { path: string } | { skipped: string } {
  mkdirSync(directory, { recursive: true });
  const source = join(directory, "fake-fdb-c.c");
  const library = join(directory, "libfdb_c_fake.so");
  writeFileSync(source, fakeFoundationDbLibrarySource);
  let result: ReturnType<typeof Bun.spawnSync>;
  try {
    result = Bun.spawnSync(["cc", "-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-o", library, source, "-lpthread"], {
      stdout: "pipe",
      stderr: "pipe",
    });
  } catch (error) {
    return { skipped: `no C compiler (cc) to build the stand-in libfdb_c: ${String(error)}` };
  }
  if (result.exitCode !== 0) {
    throw new Error(`building the stand-in libfdb_c failed:\n${result.stderr?.toString() ?? ""}`);
  }
  return { path: library };
}
