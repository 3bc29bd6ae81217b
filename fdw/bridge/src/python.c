/*-------------------------------------------------------------------------
 *
 * python.c
 *		Interpreter bootstrap, the multicorn.python_path GUC, the built-in
 *		native module _multicorn_bridge, and Python -> PostgreSQL error
 *		translation.
 *
 *-------------------------------------------------------------------------
 */
#include "multicorn.h"

#include <locale.h>
#include <pthread.h>
#include <signal.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

char	   *mc_python_path = NULL;
bool		mc_convert_unread_columns = false;

static bool mc_python_ready = false;
static PyObject *mc_multicorn_module = NULL;
static PyObject *mc_orig_start_new_thread = NULL;
static unsigned long mc_backend_thread = 0;

/* ------------------------------------------------------------------------
 * Native module _multicorn_bridge (exposed as multicorn._utils)
 * ------------------------------------------------------------------------
 */

/*
 * Raise a Python exception from the error PostgreSQL just threw.  Called in
 * PG_CATCH of C functions that Python calls: the error never longjmps past
 * the Python frames above us.
 */
static void
mc_pg_error_to_python(MemoryContext oldcxt)
{
	ErrorData  *edata;

	MemoryContextSwitchTo(oldcxt);
	edata = CopyErrorData();
	FlushErrorState();
	PyErr_SetString(PyExc_RuntimeError, edata->message ? edata->message : "PostgreSQL error");
	FreeErrorData(edata);
}

static bool
mc_on_backend_thread(void)
{
	if (PyThread_get_thread_ident() != mc_backend_thread)
	{
		PyErr_SetString(PyExc_RuntimeError,
						"multicorn: PostgreSQL functions may only be called from the backend's main thread");
		return false;
	}
	return true;
}

/* Convert an optional str argument to a palloc'd server-encoded string. */
static bool
mc_optional_text(PyObject *obj, char **out)
{
	*out = NULL;
	if (obj == NULL || obj == Py_None)
		return true;
	*out = mc_pystr_to_server(obj, false);
	return *out != NULL;
}

static PyObject *
mc_py_log_to_postgres(PyObject *self, PyObject *args, PyObject *kwargs)
{
	static char *kwlist[] = {"message", "level", "hint", "detail", NULL};
	PyObject   *message;
	int			level = 1;
	PyObject   *hint_obj = NULL;
	PyObject   *detail_obj = NULL;
	char	   *volatile msg = NULL;
	char	   *volatile hint = NULL;
	char	   *volatile detail = NULL;
	int			elevel;
	volatile bool failed = false;
	MemoryContext oldcxt = CurrentMemoryContext;

	if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|iOO", kwlist,
									 &message, &level, &hint_obj, &detail_obj))
		return NULL;
	if (!mc_on_backend_thread())
		return NULL;

	switch (level)
	{
		case 0:
			elevel = DEBUG1;
			break;
		case 1:
			elevel = NOTICE;
			break;
		case 2:
			elevel = WARNING;
			break;
		default:
			PyErr_Format(PyExc_ValueError,
						 "_log_to_postgres emits levels 0-2 only (got %d); raise MulticornException for errors",
						 level);
			return NULL;
	}

	PG_TRY();
	{
		char	   *m;
		char	   *h;
		char	   *d;
		PyObject   *s = PyObject_Str(message);

		if (s == NULL)
			failed = true;
		else
		{
			m = mc_pystr_to_server(s, false);
			Py_DECREF(s);
			msg = m;
			if (m == NULL || !mc_optional_text(hint_obj, &h) || !mc_optional_text(detail_obj, &d))
				failed = true;
			else
			{
				hint = h;
				detail = d;
				ereport(elevel,
						(errmsg_internal("%s", msg),
						 hint ? errhint("%s", hint) : 0,
						 detail ? errdetail_internal("%s", detail) : 0));
			}
		}
	}
	PG_CATCH();
	{
		mc_pg_error_to_python(oldcxt);
		failed = true;
	}
	PG_END_TRY();

	if (msg)
		pfree(msg);
	if (hint)
		pfree(hint);
	if (detail)
		pfree(detail);
	if (failed)
		return NULL;
	Py_RETURN_NONE;
}

/*
 * Only test whether a cancel or termination is pending; never run
 * ProcessInterrupts here (that would longjmp through the caller's frames).
 * The bridge turns the KeyboardInterrupt into the real PostgreSQL error once
 * control is back in C.
 */
static PyObject *
mc_py_check_interrupts(PyObject *self, PyObject *noargs)
{
	if (InterruptPending && (QueryCancelPending || ProcDiePending))
	{
		PyErr_SetString(PyExc_KeyboardInterrupt, "canceling statement: interrupt pending");
		return NULL;
	}
	Py_RETURN_NONE;
}

/*
 * Replacement for _thread.start_new_thread: block every signal while the
 * thread is created, so it inherits a full signal mask and PostgreSQL's
 * handlers (SIGALRM for statement_timeout, SIGINT, SIGUSR1 ...) only ever
 * run on the backend's own thread.
 */
static PyObject *
mc_py_start_new_thread(PyObject *self, PyObject *args, PyObject *kwargs)
{
	sigset_t	all;
	sigset_t	old;
	PyObject   *result;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	result = PyObject_Call(mc_orig_start_new_thread, args, kwargs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return result;
}

static PyMethodDef mc_bridge_methods[] = {
	{"_log_to_postgres", (PyCFunction) (void (*) (void)) mc_py_log_to_postgres,
	METH_VARARGS | METH_KEYWORDS, "Emit a message through PostgreSQL's ereport (levels 0-2)."},
	{"check_interrupts", mc_py_check_interrupts, METH_NOARGS,
	"Raise KeyboardInterrupt if PostgreSQL has a cancel or termination pending."},
	{"_start_new_thread", (PyCFunction) (void (*) (void)) mc_py_start_new_thread,
	METH_VARARGS | METH_KEYWORDS, "_thread.start_new_thread with all signals blocked."},
	{NULL, NULL, 0, NULL}
};

static struct PyModuleDef mc_bridge_module = {
	PyModuleDef_HEAD_INIT, "_multicorn_bridge",
	"Native helpers of Tiny Dancer's multicorn bridge (only inside a PostgreSQL backend).",
	-1, mc_bridge_methods
};

static PyObject *
PyInit__multicorn_bridge(void)
{
	return PyModule_Create(&mc_bridge_module);
}

/* ------------------------------------------------------------------------
 * Bootstrap
 * ------------------------------------------------------------------------
 */

void
_PG_init(void)
{
	DefineCustomStringVariable("multicorn.python_path",
							   "Directories added with site.addsitedir before the first Python import.",
							   "A comma-separated list; .pth files in them are processed, so virtualenv "
							   "site-packages and editable installs work.  Read once per backend.",
							   &mc_python_path,
							   "",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   NULL, NULL, NULL);
	DefineCustomBoolVariable("multicorn.convert_unread_columns",
							 "Convert every column of a result row, also those the query does not read.",
							 "Off (the default): columns outside the set passed to execute() are stored as "
							 "NULL without being converted.  On: Multicorn2's behaviour, where a bad value "
							 "in an unread column still raises an error.",
							 &mc_convert_unread_columns,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);
	MarkGUCPrefixReserved("multicorn");
	mc_xact_init();
	mc_cache_init();
}

/* Run a few lines of Python in __main__'s namespace copy; false on error. */
static bool
mc_run_python(const char *code)
{
	PyObject   *globals = PyDict_New();
	PyObject   *res;

	if (globals == NULL)
		return false;
	if (PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins()) < 0)
	{
		Py_DECREF(globals);
		return false;
	}
	res = PyRun_String(code, Py_file_input, globals, globals);
	Py_DECREF(globals);
	if (res == NULL)
		return false;
	Py_DECREF(res);
	return true;
}

static bool
mc_install_thread_hook(void)
{
	PyObject   *thread_mod = PyImport_ImportModule("_thread");
	PyObject   *bridge = PyImport_ImportModule("_multicorn_bridge");
	PyObject   *hook = NULL;
	bool		ok = false;

	if (thread_mod && bridge)
	{
		mc_orig_start_new_thread = PyObject_GetAttrString(thread_mod, "start_new_thread");
		hook = PyObject_GetAttrString(bridge, "_start_new_thread");
		if (mc_orig_start_new_thread && hook &&
			PyObject_SetAttrString(thread_mod, "start_new_thread", hook) == 0)
			ok = mc_run_python("import sys\n"
							   "t = sys.modules.get('threading')\n"
							   "if t is not None:\n"
							   "    import _thread\n"
							   "    t._start_new_thread = _thread.start_new_thread\n");
	}
	Py_XDECREF(hook);
	Py_XDECREF(thread_mod);
	Py_XDECREF(bridge);
	return ok;
}

static bool
mc_add_site_dirs(void)
{
	char	   *raw;
	List	   *dirs;
	ListCell   *lc;
	PyObject   *site;
	bool		ok = true;

	if (mc_python_path == NULL || mc_python_path[0] == '\0')
		return true;
	raw = pstrdup(mc_python_path);
	if (!SplitDirectoriesString(raw, ',', &dirs))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in parameter \"multicorn.python_path\"")));

	site = PyImport_ImportModule("site");
	if (site == NULL)
		return false;
	foreach(lc, dirs)
	{
		PyObject   *res = PyObject_CallMethod(site, "addsitedir", "s", (char *) lfirst(lc));

		if (res == NULL)
		{
			ok = false;
			break;
		}
		Py_DECREF(res);
	}
	Py_DECREF(site);
	return ok;
}

/*
 * The bridge's own Python package (python/multicorn) is installed under
 * PostgreSQL's share directory, not into any Python environment, so it
 * never shadows a real Multicorn2 for other programs.  Only the bridge puts
 * it on sys.path, first, after multicorn.python_path's directories: in the
 * backend "import multicorn" is always the bridge's.
 */
static bool
mc_add_bridge_dir(void)
{
	char		share[MAXPGPATH];
	char		dir[MAXPGPATH];
	PyObject   *path;
	PyObject   *entry;
	int			rc;

	get_share_path(my_exec_path, share);
	snprintf(dir, sizeof(dir), "%s/%s", share, MC_BRIDGE_PYTHON_DIR);
	path = PySys_GetObject("path");	/* borrowed */
	if (path == NULL || !PyList_Check(path))
	{
		PyErr_SetString(PyExc_RuntimeError, "multicorn: sys.path is not a list");
		return false;
	}
	entry = PyUnicode_DecodeFSDefault(dir);
	if (entry == NULL)
		return false;
	rc = PyList_Insert(path, 0, entry);
	Py_DECREF(entry);
	return rc == 0;
}

/*
 * Start the interpreter on first use (once per backend).  If another
 * extension (plpython3u) already started the same libpython, reuse it and
 * insert the native module into sys.modules instead of the init table.
 */
void
mc_ensure_python(void)
{
	if (mc_python_ready)
		return;

	if (!Py_IsInitialized())
	{
		/* Python resets LC_CTYPE from the environment; keep the database's */
		char	   *saved_ctype = pstrdup(setlocale(LC_CTYPE, NULL));

		if (PyImport_AppendInittab("_multicorn_bridge", PyInit__multicorn_bridge) < 0)
			elog(ERROR, "multicorn: could not register the _multicorn_bridge module");
		/* 0: leave PostgreSQL's signal handlers alone */
		Py_InitializeEx(0);
		setlocale(LC_CTYPE, saved_ctype);
		pfree(saved_ctype);
		if (!Py_IsInitialized())
			elog(ERROR, "multicorn: could not initialize Python");
	}
	else
	{
		PyObject   *mod = PyModule_Create(&mc_bridge_module);
		PyObject   *modules = PyImport_GetModuleDict();

		if (mod == NULL || PyDict_SetItemString(modules, "_multicorn_bridge", mod) < 0)
		{
			Py_XDECREF(mod);
			mc_report_python_error(ERROR);
		}
		Py_DECREF(mod);
	}
	mc_backend_thread = PyThread_get_thread_ident();

	if (!mc_install_thread_hook())
		mc_report_python_error(ERROR);
	/* Mark ready before the path setup so a failure there is not retried in a loop. */
	mc_python_ready = true;
	if (!mc_add_site_dirs() || !mc_add_bridge_dir())
		mc_report_python_error(ERROR);
}

/* Attribute of the multicorn package (new reference); Python error on failure. */
PyObject *
mc_multicorn_attr(const char *name)
{
	if (mc_multicorn_module == NULL)
	{
		PyObject   *mod = PyImport_ImportModule("multicorn");

		if (mod == NULL)
			return NULL;
		/* another multicorn imported first (plpython3u's sys.modules): refuse, do not mix */
		if (!PyObject_HasAttrString(mod, "__bridge__"))
		{
			PyErr_Format(PyExc_ImportError,
						 "the multicorn module imported in this backend is not the bridge's (%R); "
						 "the bridge's is in PostgreSQL's share directory, %s", mod, MC_BRIDGE_PYTHON_DIR);
			Py_DECREF(mod);
			return NULL;
		}
		mc_multicorn_module = mod;
	}
	return PyObject_GetAttrString(mc_multicorn_module, name);
}

/* obj.name(*args, **kwargs); args may be NULL for no arguments. */
PyObject *
mc_call_method(PyObject *obj, const char *name, PyObject *args, PyObject *kwargs)
{
	PyObject   *meth = PyObject_GetAttrString(obj, name);
	PyObject   *res;
	PyObject   *empty = NULL;

	if (meth == NULL)
		return NULL;
	if (args == NULL)
	{
		empty = PyTuple_New(0);
		if (empty == NULL)
		{
			Py_DECREF(meth);
			return NULL;
		}
		args = empty;
	}
	res = PyObject_Call(meth, args, kwargs);
	Py_DECREF(meth);
	Py_XDECREF(empty);
	return res;
}

/* ------------------------------------------------------------------------
 * Encoding helpers
 * ------------------------------------------------------------------------
 */

const char *
mc_python_encoding(void)
{
	switch (GetDatabaseEncoding())
	{
		case PG_SQL_ASCII:
			return "ascii";
		case PG_UTF8:
			return "utf-8";
		case PG_LATIN1:
			return "latin-1";
		case PG_WIN1252:
			return "cp1252";
		case PG_WIN1251:
			return "cp1251";
		case PG_EUC_JP:
			return "euc_jp";
		case PG_SJIS:
			return "shift_jis";
		default:
			return GetDatabaseEncodingName();
	}
}

PyObject *
mc_unicode_from_server(const char *s, Py_ssize_t len)
{
	if (GetDatabaseEncoding() == PG_UTF8)
		return PyUnicode_DecodeUTF8(s, len, "strict");
	return PyUnicode_Decode(s, len, mc_python_encoding(), "strict");
}

/*
 * str -> palloc'd string in the database encoding.  Non-str objects are
 * str()-ed first.  Returns NULL with a Python error set on failure.
 */
char *
mc_pystr_to_server(PyObject *obj, bool strict)
{
	PyObject   *s;
	PyObject   *bytes;
	char	   *res;

	s = PyObject_Str(obj);
	if (s == NULL)
		return NULL;
	bytes = PyUnicode_AsEncodedString(s, mc_python_encoding(), strict ? "strict" : "replace");
	Py_DECREF(s);
	if (bytes == NULL)
		return NULL;
	res = pnstrdup(PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
	Py_DECREF(bytes);
	return res;
}

/* ------------------------------------------------------------------------
 * Python exception -> PostgreSQL error
 * ------------------------------------------------------------------------
 */

/* Best-effort text of a Python object (palloc'd), NULL if it cannot be had. */
static char *
mc_safe_text(PyObject *obj)
{
	char	   *res;

	if (obj == NULL || obj == Py_None)
		return NULL;
	res = mc_pystr_to_server(obj, false);
	if (res == NULL)
		PyErr_Clear();
	return res;
}

static char *
mc_format_traceback(PyObject *type, PyObject *value, PyObject *tb)
{
	PyObject   *mod = PyImport_ImportModule("traceback");
	PyObject   *lines = NULL;
	PyObject   *sep = NULL;
	PyObject   *joined = NULL;
	char	   *res = NULL;

	if (mod)
		lines = PyObject_CallMethod(mod, "format_exception", "OOO", type,
									value ? value : Py_None, tb ? tb : Py_None);
	if (lines)
		sep = PyUnicode_FromString("");
	if (sep)
		joined = PyUnicode_Join(sep, lines);
	if (joined)
		res = mc_safe_text(joined);
	Py_XDECREF(joined);
	Py_XDECREF(sep);
	Py_XDECREF(lines);
	Py_XDECREF(mod);
	PyErr_Clear();
	return res;
}

/*
 * The exception's optional ``sqlstate`` attribute as an errcode, or 0.  It
 * must be a str of exactly 5 characters from [0-9A-Z], and not of class 00
 * (successful completion).  Real Multicorn2 ignores the attribute, so FDW
 * code may set it and stay portable.
 */
static int
mc_exception_sqlstate(PyObject *value)
{
	PyObject   *o;
	int			code = 0;

	if (value == NULL)
		return 0;
	o = PyObject_GetAttrString(value, "sqlstate");
	if (o != NULL && PyUnicode_Check(o))
	{
		Py_ssize_t	n;
		const char *s = PyUnicode_AsUTF8AndSize(o, &n);
		bool		ok = s != NULL && n == 5 && !(s[0] == '0' && s[1] == '0');
		int			i;

		for (i = 0; ok && i < 5; i++)
			ok = (s[i] >= '0' && s[i] <= '9') || (s[i] >= 'A' && s[i] <= 'Z');
		if (ok)
			code = MAKE_SQLSTATE(s[0], s[1], s[2], s[3], s[4]);
	}
	Py_XDECREF(o);
	PyErr_Clear();
	return code;
}

/*
 * Fetch and clear the pending Python exception, release every reference,
 * then report it at elevel (ERROR, or WARNING from commit/abort hooks).
 *
 * - MulticornException (marker _is_multicorn_exception): its message, hint
 *   and detail; code 4 means FATAL.
 * - KeyboardInterrupt while PostgreSQL has a cancel pending: the real
 *   cancel/timeout error via CHECK_FOR_INTERRUPTS.
 * - Anything else: XX000 "Error in python: <ExcName>", DETAIL str(exc),
 *   traceback in the server log only.
 * - Either way, a valid ``sqlstate`` attribute on the exception gives the
 *   SQLSTATE (see mc_exception_sqlstate).
 */
void
mc_report_python_error(int elevel)
{
	PyObject   *type;
	PyObject   *value;
	PyObject   *tb;
	char	   *name = NULL;
	char	   *message = NULL;
	char	   *traceback = NULL;
	char	   *hint = NULL;
	char	   *detail = NULL;
	bool		is_mc = false;
	bool		is_interrupt = false;
	long		code = 3;
	int			sqlstate;

	if (!PyErr_Occurred())
		elog(elevel, "multicorn: Python call failed without an exception");

	PyErr_Fetch(&type, &value, &tb);
	PyErr_NormalizeException(&type, &value, &tb);
	if (value && tb)
		PyException_SetTraceback(value, tb);

	if (value && PyObject_HasAttrString(value, "_is_multicorn_exception"))
	{
		PyObject   *o;

		is_mc = true;
		o = PyObject_GetAttrString(value, "message");
		message = mc_safe_text(o);
		Py_XDECREF(o);
		o = PyObject_GetAttrString(value, "hint");
		hint = mc_safe_text(o);
		Py_XDECREF(o);
		o = PyObject_GetAttrString(value, "detail");
		detail = mc_safe_text(o);
		Py_XDECREF(o);
		o = PyObject_GetAttrString(value, "code");
		if (o && PyLong_Check(o))
			code = PyLong_AsLong(o);
		Py_XDECREF(o);
		PyErr_Clear();
	}
	else
	{
		PyObject   *n = type ? PyObject_GetAttrString(type, "__name__") : NULL;

		name = mc_safe_text(n);
		Py_XDECREF(n);
		PyErr_Clear();
		message = mc_safe_text(value);
		is_interrupt = type && PyErr_GivenExceptionMatches(type, PyExc_KeyboardInterrupt);
	}
	sqlstate = mc_exception_sqlstate(value);
	traceback = mc_format_traceback(type, value, tb);

	Py_XDECREF(type);
	Py_XDECREF(value);
	Py_XDECREF(tb);
	PyErr_Clear();

	/* Nothing Python-side is pending or held from here on. */
	if (is_interrupt && elevel >= ERROR)
		CHECK_FOR_INTERRUPTS();

	if (is_mc)
	{
		if (elevel >= ERROR && code >= 4)
			elevel = FATAL;
		ereport(elevel,
				(sqlstate ? errcode(sqlstate) : 0,
				 errmsg_internal("%s", message ? message : "multicorn error"),
				 hint ? errhint("%s", hint) : 0,
				 detail ? errdetail_internal("%s", detail) : 0,
				 traceback ? errdetail_log("%s", traceback) : 0));
	}
	else
		ereport(elevel,
				(errcode(sqlstate ? sqlstate : ERRCODE_INTERNAL_ERROR),
				 errmsg("Error in python: %s", name ? name : "unknown exception"),
				 message ? errdetail_internal("%s", message) : 0,
				 traceback ? errdetail_log("%s", traceback) : 0));
}

/* Report the pending Python error as an ERROR if result is NULL. */
void
mc_check_python(PyObject *result)
{
	if (result == NULL)
		mc_report_python_error(ERROR);
}
