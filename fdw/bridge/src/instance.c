/*-------------------------------------------------------------------------
 *
 * instance.c
 *		Option validation and merging (spec 2.2, 2.3), the per-backend FDW
 *		instance cache (spec 3.8), transaction hooks (spec 1.7) and tracking
 *		of Python references held by running scans.
 *
 *-------------------------------------------------------------------------
 */
#include "multicorn.h"

#include <pthread.h>
#include <signal.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_foreign_server.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_user_mapping.h"
#include "commands/defrem.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(multicorn_validator);

static HTAB *mc_instances = NULL;
static dlist_head mc_tracked = DLIST_STATIC_INIT(mc_tracked);

/* ------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------
 */

char *
mc_option_value(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		if (strcmp(def->defname, name) == 0)
			return defGetString(def);
	}
	return NULL;
}

/* The current user's mapping for the server, else PUBLIC's, else none. */
static List *
mc_user_mapping_options(Oid serverid)
{
	Oid			users[2] = {GetUserId(), InvalidOid};
	int			i;

	for (i = 0; i < 2; i++)
	{
		HeapTuple	tp = SearchSysCache2(USERMAPPINGUSERSERVER,
										 ObjectIdGetDatum(users[i]),
										 ObjectIdGetDatum(serverid));

		if (HeapTupleIsValid(tp))
		{
			bool		isnull;
			Datum		d = SysCacheGetAttr(USERMAPPINGUSERSERVER, tp,
											Anum_pg_user_mapping_umoptions, &isnull);
			List	   *opts = isnull ? NIL : untransformRelOptions(d);

			ReleaseSysCache(tp);
			return opts;
		}
	}
	return NIL;
}

/* Server options followed by the user mapping's (later entries win). */
List *
mc_server_and_mapping_options(Oid serverid)
{
	ForeignServer *server = GetForeignServer(serverid);

	return list_concat(list_copy(server->options), mc_user_mapping_options(serverid));
}

/* DefElem list -> dict; later duplicates override earlier ones. */
PyObject *
mc_options_to_dict(List *options)
{
	PyObject   *dict = PyDict_New();
	ListCell   *lc;

	if (dict == NULL)
		return NULL;
	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);
		char	   *val = defGetString(def);
		PyObject   *v = mc_unicode_from_server(val, strlen(val));

		if (v == NULL || PyDict_SetItemString(dict, def->defname, v) < 0)
		{
			Py_XDECREF(v);
			Py_DECREF(dict);
			return NULL;
		}
		Py_DECREF(v);
	}
	return dict;
}

/*
 * Does a server of an FDW validated by this very function (multicorn) already name this wrapper
 * class?  Such a class was accepted before, by a role allowed to name it (see below).
 */
static bool
mc_wrapper_in_use(Oid validator, const char *wrapper)
{
	Relation	srvrel = table_open(ForeignServerRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(srvrel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tup;
	bool		found = false;

	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_foreign_server srv = (Form_pg_foreign_server) GETSTRUCT(tup);
		ForeignDataWrapper *fdw = GetForeignDataWrapper(srv->srvfdw);
		char	   *value;

		if (fdw->fdwvalidator != validator)
			continue;
		value = mc_option_value(GetForeignServer(srv->oid)->options, "wrapper");
		found = value != NULL && strcmp(value, wrapper) == 0;
	}
	systable_endscan(scan);
	table_close(srvrel, AccessShareLock);
	return found;
}

/*
 * multicorn_validator(text[], oid): spec 2.2.  The server must name a
 * wrapper class, which is imported now; tables and user mappings may not.
 *
 * Naming a wrapper class runs Python code in the server (its module is
 * imported here and by every backend using the server), so, like an
 * untrusted language, a new class may only be named by a superuser.  A
 * non-superuser allowed to CREATE/ALTER SERVER (USAGE on the FDW, or the
 * server's owner) may name a class that a multicorn server already uses, so
 * ALTER SERVER ... OPTIONS (SET target ...) by the owner keeps working.
 * PostgreSQL calls validators itself (not through SQL, so fn_expr is
 * unset); called directly as a function (the extension revokes EXECUTE from
 * PUBLIC), it serves superusers only and imports nothing for anyone else.
 */
Datum
multicorn_validator(PG_FUNCTION_ARGS)
{
	List	   *options = untransformRelOptions(PG_GETARG_DATUM(0));
	Oid			catalog = PG_GETARG_OID(1);
	char	   *wrapper = mc_option_value(options, "wrapper");

	if (fcinfo->flinfo->fn_expr != NULL && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to call multicorn_validator directly"),
				 errdetail("PostgreSQL calls it to validate CREATE/ALTER of multicorn servers, tables and "
						   "user mappings; called as a function it would import Python modules."),
				 errhint("Only a superuser may call it directly.")));

	if (catalog == ForeignServerRelationId)
	{
		PyObject   *get_class;
		PyObject   *cls;

		if (wrapper == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
					 errmsg("The wrapper parameter is mandatory, specify a valid class name")));
		if (!superuser() && !mc_wrapper_in_use(fcinfo->flinfo->fn_oid, wrapper))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("permission denied to set the wrapper class \"%s\"", wrapper),
					 errdetail("The wrapper class is Python code that the server imports and runs."),
					 errhint("Only a superuser may name a wrapper class that no multicorn server uses yet.")));
		mc_ensure_python();
		get_class = mc_multicorn_attr("get_class");
		if (get_class == NULL)
			mc_report_python_error(ERROR);
		cls = PyObject_CallFunction(get_class, "s", wrapper);
		Py_DECREF(get_class);
		mc_check_python(cls);
		Py_DECREF(cls);
	}
	else if (wrapper != NULL && catalog == ForeignTableRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("Cannot set the wrapper class on the table"),
				 errhint("Set it on the server")));
	else if (wrapper != NULL && catalog == UserMappingRelationId)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_INVALID_OPTION_NAME),
				 errmsg("Cannot set the wrapper class on a user mapping"),
				 errhint("Set it on the server")));

	PG_RETURN_BOOL(true);
}

/* ------------------------------------------------------------------------
 * Instance cache
 * ------------------------------------------------------------------------
 */

/* Catalog facts about one column, gathered before any Python runs. */
typedef struct McColumnInfo
{
	char	   *name;
	Oid			typoid;
	int32		typmod;
	char	   *type_name;
	char	   *base_type_name;
	List	   *options;
} McColumnInfo;

/*
 * Cache validity.  A valid entry is reused without reading the catalogs:
 * the invalidation callbacks below clear the flag when anything the
 * fingerprint covers may have changed (the table's relcache entry covers
 * its columns and column options; the syscache callbacks cover table,
 * server and user-mapping options).  Entries are revalidated too when the
 * current user changes (user mappings are per user).  An invalid entry
 * recomputes the fingerprint, and only a different fingerprint builds a new
 * instance (spec 3.8).
 */
static uint64 mc_inval_count = 0;

static void
mc_invalidate_all(void)
{
	HASH_SEQ_STATUS status;
	McInstance *entry;

	mc_inval_count++;
	if (mc_instances == NULL)
		return;
	hash_seq_init(&status, mc_instances);
	while ((entry = hash_seq_search(&status)) != NULL)
		entry->valid = false;
}

static void
mc_relcache_callback(Datum arg, Oid relid)
{
	McInstance *entry;

	if (!OidIsValid(relid))
	{
		mc_invalidate_all();
		return;
	}
	mc_inval_count++;
	if (mc_instances == NULL)
		return;
	entry = hash_search(mc_instances, &relid, HASH_FIND, NULL);
	if (entry)
		entry->valid = false;
}

static void
mc_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	/* option changes are rare: forget every validation */
	mc_invalidate_all();
}

void
mc_cache_init(void)
{
	CacheRegisterRelcacheCallback(mc_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(FOREIGNTABLEREL, mc_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(FOREIGNSERVEROID, mc_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(USERMAPPINGOID, mc_syscache_callback, (Datum) 0);
}

/* Length-prefixed string, so that concatenated fields cannot collide. */
static void
mc_fp_append(StringInfo buf, const char *s)
{
	uint32		len = (uint32) strlen(s);

	appendBinaryStringInfo(buf, (char *) &len, sizeof(len));
	appendBinaryStringInfo(buf, s, len);
}

static void
mc_fp_append_options(StringInfo buf, List *options)
{
	ListCell   *lc;
	uint32		n = (uint32) list_length(options);

	appendBinaryStringInfo(buf, (char *) &n, sizeof(n));
	foreach(lc, options)
	{
		DefElem    *def = lfirst(lc);

		mc_fp_append(buf, def->defname);
		mc_fp_append(buf, defGetString(def));
	}
}

/*
 * The fingerprint of spec 3.8 as bytes: the ordered merged options, then
 * each live column's name, type oid, typmod and options.
 */
static void
mc_fingerprint(StringInfo buf, List *options, List *columns)
{
	ListCell   *lc;

	mc_fp_append_options(buf, options);
	foreach(lc, columns)
	{
		McColumnInfo *c = lfirst(lc);

		mc_fp_append(buf, c->name);
		appendBinaryStringInfo(buf, (char *) &c->typoid, sizeof(c->typoid));
		appendBinaryStringInfo(buf, (char *) &c->typmod, sizeof(c->typmod));
		mc_fp_append_options(buf, c->options);
	}
}

/* OrderedDict of name -> ColumnDefinition, in attnum order (new reference or NULL). */
static PyObject *
mc_column_definitions(List *columns)
{
	PyObject   *coldef_cls = mc_multicorn_attr("ColumnDefinition");
	PyObject   *collections = NULL;
	PyObject   *result = NULL;
	ListCell   *lc;

	if (coldef_cls == NULL)
		return NULL;
	collections = PyImport_ImportModule("collections");
	if (collections == NULL)
		goto done;
	result = PyObject_CallMethod(collections, "OrderedDict", NULL);
	if (result == NULL)
		goto done;

	foreach(lc, columns)
	{
		McColumnInfo *c = lfirst(lc);
		PyObject   *opts = mc_options_to_dict(c->options);
		PyObject   *def;

		if (opts == NULL)
			goto fail;
		def = PyObject_CallFunction(coldef_cls, "sIisss", c->name, (unsigned int) c->typoid,
									(int) c->typmod, c->type_name, c->base_type_name, "");
		if (def == NULL)
		{
			Py_DECREF(opts);
			goto fail;
		}
		/* options is a keyword-style attribute: set it directly */
		/* PyObject_SetItem, not PyDict_*: OrderedDict keeps its own order */
		if (PyObject_SetAttrString(def, "options", opts) < 0 ||
			PyMapping_SetItemString(result, c->name, def) < 0)
		{
			Py_DECREF(def);
			Py_DECREF(opts);
			goto fail;
		}
		Py_DECREF(def);
		Py_DECREF(opts);
	}
	goto done;

fail:
	Py_CLEAR(result);
done:
	Py_XDECREF(collections);
	Py_DECREF(coldef_cls);
	return result;
}

/*
 * Construct the FDW instance (new reference, or NULL with a Python error
 * set; a failed constructor is not cached).
 */
static PyObject *
mc_construct(List *options, List *columns, const char *wrapper)
{
	PyObject   *opts = mc_options_to_dict(options);
	PyObject   *coldefs = NULL;
	PyObject   *get_class = NULL;
	PyObject   *cls = NULL;
	PyObject   *instance = NULL;
	sigset_t	all;
	sigset_t	old;

	if (opts == NULL)
		return NULL;
	if (PyDict_DelItemString(opts, "wrapper") < 0)
		PyErr_Clear();
	coldefs = mc_column_definitions(columns);
	if (coldefs)
		get_class = mc_multicorn_attr("get_class");
	if (get_class)
	{
		/*
		 * Import and construct with every signal blocked: threads that C
		 * extensions start here (gRPC, BLAS pools ...) inherit a blocked mask,
		 * like threads started through the threading module always do.
		 */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		cls = PyObject_CallFunction(get_class, "s", wrapper);
		if (cls != NULL)
			instance = PyObject_CallFunctionObjArgs(cls, opts, coldefs, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	Py_XDECREF(cls);
	Py_XDECREF(get_class);
	Py_XDECREF(coldefs);
	Py_DECREF(opts);
	return instance;
}

/* Call begin/sub_begin so the instance is at the current nesting level. */
static void
mc_enter_transaction(McInstance *entry)
{
	int			level = GetCurrentTransactionNestLevel();

	if (entry->xact_depth == 0)
	{
		PyObject   *res = PyObject_CallMethod(entry->instance, "begin", "(i)",
											  IsolationIsSerializable() ? 1 : 0);

		mc_check_python(res);
		Py_DECREF(res);
		entry->xact_depth = 1;
	}
	while (entry->xact_depth < level)
	{
		PyObject   *res = PyObject_CallMethod(entry->instance, "sub_begin", "(i)",
											  entry->xact_depth + 1);

		mc_check_python(res);
		Py_DECREF(res);
		entry->xact_depth++;
	}
}

/*
 * The FDW instance for a foreign table (new reference), created on first
 * use, rebuilt when options or columns change, and entered into the current
 * transaction (begin/sub_begin hooks).
 *
 * Planning and execution of one query call this several times (rel size,
 * paths, begin scan/modify); a valid cache entry answers without touching
 * the catalogs or Python.
 */
PyObject *
mc_get_instance(Oid relid)
{
	ForeignTable *ft;
	List	   *options;
	List	   *columns = NIL;
	char	   *wrapper;
	Relation	rel;
	TupleDesc	desc;
	int			i;
	McInstance *entry;
	bool		found;
	PyObject   *instance;
	StringInfoData fp;
	uint64		inval_before;

	mc_ensure_python();

	if (mc_instances == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(McInstance);
		ctl.hcxt = CacheMemoryContext;
		mc_instances = hash_create("multicorn instances", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	entry = hash_search(mc_instances, &relid, HASH_ENTER, &found);
	if (!found)
	{
		entry->instance = NULL;
		entry->fingerprint = NULL;
		entry->fingerprint_len = 0;
		entry->xact_depth = 0;
		entry->valid = false;
		entry->userid = InvalidOid;
	}
	if (entry->instance && entry->valid && entry->userid == GetUserId())
	{
		mc_enter_transaction(entry);
		Py_INCREF(entry->instance);
		return entry->instance;
	}
	entry->valid = false;
	inval_before = mc_inval_count;

	/* PostgreSQL phase: gather everything from the catalogs. */
	rel = table_open(relid, AccessShareLock);
	ft = GetForeignTable(relid);
	options = list_concat(list_copy(ft->options), mc_server_and_mapping_options(ft->serverid));
	wrapper = NULL;
	{
		ListCell   *lc;

		foreach(lc, options)
		{
			DefElem    *def = lfirst(lc);

			if (strcmp(def->defname, "wrapper") == 0)
				wrapper = defGetString(def);
		}
	}
	if (wrapper == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("The wrapper parameter is mandatory, specify a valid class name")));

	desc = RelationGetDescr(rel);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute attr = TupleDescAttr(desc, i);
		McColumnInfo *c;

		if (attr->attisdropped)
			continue;
		c = palloc0(sizeof(McColumnInfo));
		c->name = pstrdup(NameStr(attr->attname));
		c->typoid = attr->atttypid;
		c->typmod = attr->atttypmod;
		c->type_name = format_type_with_typemod(attr->atttypid, attr->atttypmod);
		c->base_type_name = format_type_be(attr->atttypid);
		c->options = GetForeignColumnOptions(relid, attr->attnum);
		columns = lappend(columns, c);
	}
	table_close(rel, AccessShareLock);

	initStringInfo(&fp);
	mc_fingerprint(&fp, options, columns);

	if (entry->instance == NULL || entry->fingerprint_len != fp.len ||
		memcmp(entry->fingerprint, fp.data, fp.len) != 0)
	{
		/* Python phase: a new instance; the old reference is dropped, no hook called. */
		char	   *copy = MemoryContextAlloc(CacheMemoryContext, Max(fp.len, 1));

		memcpy(copy, fp.data, fp.len);
		instance = mc_construct(options, columns, wrapper);
		if (instance == NULL)
		{
			pfree(copy);
			mc_report_python_error(ERROR);
		}
		Py_XDECREF(entry->instance);
		if (entry->fingerprint)
			pfree(entry->fingerprint);
		entry->instance = instance;
		entry->fingerprint = copy;
		entry->fingerprint_len = fp.len;
		entry->xact_depth = 0;
	}
	pfree(fp.data);
	/* valid unless an invalidation arrived while the catalogs were read */
	entry->valid = (inval_before == mc_inval_count);
	entry->userid = GetUserId();

	mc_enter_transaction(entry);
	Py_INCREF(entry->instance);
	return entry->instance;
}

/* ------------------------------------------------------------------------
 * Tracking of Python references held by executor nodes
 * ------------------------------------------------------------------------
 */

McIterRef *
mc_track(PyObject *instance)
{
	McIterRef  *ref = MemoryContextAllocZero(TopMemoryContext, sizeof(McIterRef));

	ref->level = GetCurrentTransactionNestLevel();
	ref->instance = instance;	/* takes over the caller's reference */
	dlist_push_tail(&mc_tracked, &ref->node);
	return ref;
}

void
mc_untrack(McIterRef *ref)
{
	if (ref == NULL)
		return;
	dlist_delete(&ref->node);
	Py_CLEAR(ref->iter);
	Py_CLEAR(ref->consts);
	Py_CLEAR(ref->columns);
	Py_CLEAR(ref->instance);
	pfree(ref);
}

/*
 * End a scan or modify: untrack its reference (the iterator goes first), then, unless the statement
 * was only EXPLAINed, call the instance's end hook (end_scan or end_modify).
 */
void
mc_finish(McIterRef **refp, bool explain_only, const char *hook)
{
	PyObject   *instance;
	PyObject   *res;

	if (*refp == NULL)
		return;
	Py_CLEAR((*refp)->iter);
	instance = (*refp)->instance;
	Py_INCREF(instance);
	mc_untrack(*refp);
	*refp = NULL;
	if (explain_only)
	{
		Py_DECREF(instance);
		return;
	}
	res = PyObject_CallMethod(instance, hook, NULL);
	Py_DECREF(instance);
	mc_check_python(res);
	Py_DECREF(res);
}

/* Release references of scans started at nesting level >= level. */
static void
mc_release_tracked(int level)
{
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &mc_tracked)
	{
		McIterRef  *ref = dlist_container(McIterRef, node, it.cur);

		if (ref->level >= level)
			mc_untrack(ref);
	}
}

/* A committed subtransaction hands its running scans (cursors) to its parent. */
static void
mc_demote_tracked(int level)
{
	dlist_iter	it;

	dlist_foreach(it, &mc_tracked)
	{
		McIterRef  *ref = dlist_container(McIterRef, node, it.cur);

		if (ref->level >= level)
			ref->level = level - 1;
	}
}

/* ------------------------------------------------------------------------
 * Transaction hooks (spec 1.7)
 * ------------------------------------------------------------------------
 */

/* Call method on every instance used in this transaction (depth >= min_depth). */
static void
mc_call_hooks(const char *method, int min_depth, int level_arg, int elevel, int new_depth)
{
	HASH_SEQ_STATUS status;
	McInstance *entry;

	if (mc_instances == NULL || !Py_IsInitialized())
		return;
	hash_seq_init(&status, mc_instances);
	while ((entry = hash_seq_search(&status)) != NULL)
	{
		PyObject   *res;

		if (entry->instance == NULL || entry->xact_depth < min_depth || entry->xact_depth == 0)
			continue;
		if (level_arg > 0)
			res = PyObject_CallMethod(entry->instance, method, "(i)", level_arg);
		else
			res = PyObject_CallMethod(entry->instance, method, NULL);
		if (new_depth >= 0)
			entry->xact_depth = new_depth;
		if (res == NULL)
		{
			if (elevel >= ERROR)
				hash_seq_term(&status);
			mc_report_python_error(elevel);
		}
		else
			Py_DECREF(res);
	}
}

static void
mc_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			/* an exception here aborts the transaction; rollback() follows */
			mc_call_hooks("pre_commit", 1, 0, ERROR, -1);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PREPARE:
			mc_release_tracked(0);
			mc_memo_reset();
			/* an ERROR here would PANIC: downgrade to WARNING */
			mc_call_hooks("commit", 1, 0, WARNING, 0);
			break;
		case XACT_EVENT_ABORT:
			mc_release_tracked(0);
			mc_memo_reset();
			mc_call_hooks("rollback", 1, 0, WARNING, 0);
			break;
		default:
			break;
	}
}

static void
mc_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	switch (event)
	{
		case SUBXACT_EVENT_PRE_COMMIT_SUB:
			/* still safe to throw here: RELEASE fails with the error */
			mc_call_hooks("sub_commit", level, level, ERROR, level - 1);
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			mc_demote_tracked(level);
			break;
		case SUBXACT_EVENT_ABORT_SUB:
			mc_release_tracked(level);
			mc_call_hooks("sub_rollback", level, level, WARNING, level - 1);
			break;
		default:
			break;
	}
}

void
mc_xact_init(void)
{
	RegisterXactCallback(mc_xact_callback, NULL);
	RegisterSubXactCallback(mc_subxact_callback, NULL);
}
