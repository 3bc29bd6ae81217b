/*-------------------------------------------------------------------------
 *
 * import.c
 *		IMPORT FOREIGN SCHEMA through the wrapper class's import_schema
 *		classmethod (spec 1.8).  PostgreSQL itself re-applies LIMIT TO /
 *		EXCEPT and forces the local schema on the returned statements.
 *
 *-------------------------------------------------------------------------
 */
#include "multicorn.h"

#include "foreign/foreign.h"
#include "nodes/parsenodes.h"

List *
mc_import_foreign_schema(ImportForeignSchemaStmt *stmt, Oid serverOid)
{
	ForeignServer *server = GetForeignServer(serverOid);
	List	   *srv_options = mc_server_and_mapping_options(serverOid);
	char	   *wrapper = mc_option_value(server->options, "wrapper");
	const char *restriction = NULL;
	List	   *result = NIL;
	ListCell   *lc;
	PyObject   *get_class = NULL;
	PyObject   *cls = NULL;
	PyObject   *srv = NULL;
	PyObject   *opts = NULL;
	PyObject   *restricts = NULL;
	PyObject   *tables = NULL;
	PyObject   *it = NULL;
	PyObject   *item;
	bool		ok = false;

	if (wrapper == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FDW_OPTION_NAME_NOT_FOUND),
				 errmsg("The wrapper parameter is mandatory, specify a valid class name")));
	switch (stmt->list_type)
	{
		case FDW_IMPORT_SCHEMA_LIMIT_TO:
			restriction = "limit";
			break;
		case FDW_IMPORT_SCHEMA_EXCEPT:
			restriction = "except";
			break;
		default:
			restriction = NULL;
			break;
	}
	mc_ensure_python();

	/* Python phase */
	get_class = mc_multicorn_attr("get_class");
	if (get_class == NULL)
		goto done;
	cls = PyObject_CallFunction(get_class, "s", wrapper);
	if (cls == NULL)
		goto done;
	srv = mc_options_to_dict(srv_options);
	if (srv == NULL)
		goto done;
	if (PyDict_DelItemString(srv, "wrapper") < 0)
		PyErr_Clear();
	opts = mc_options_to_dict(stmt->options);
	restricts = PyList_New(0);
	if (opts == NULL || restricts == NULL)
		goto done;
	foreach(lc, stmt->table_list)
	{
		RangeVar   *rv = lfirst(lc);
		PyObject   *name = mc_unicode_from_server(rv->relname, strlen(rv->relname));

		if (name == NULL || PyList_Append(restricts, name) < 0)
		{
			Py_XDECREF(name);
			goto done;
		}
		Py_DECREF(name);
	}
	tables = PyObject_CallMethod(cls, "import_schema", "sOOzO", stmt->remote_schema, srv, opts,
								 restriction, restricts);
	if (tables == NULL)
		goto done;
	if (tables == Py_None)
	{
		ok = true;
		goto done;
	}
	it = PyObject_GetIter(tables);
	if (it == NULL)
		goto done;
	while ((item = PyIter_Next(it)) != NULL)
	{
		PyObject   *sql = PyObject_CallMethod(item, "to_statement", "ss",
											  stmt->local_schema, server->servername);
		char	   *s;

		Py_DECREF(item);
		if (sql == NULL)
			break;
		s = mc_pystr_to_server(sql, true);
		Py_DECREF(sql);
		if (s == NULL)
			break;
		result = lappend(result, s);
	}
	ok = !PyErr_Occurred();

done:
	Py_XDECREF(it);
	Py_XDECREF(tables);
	Py_XDECREF(restricts);
	Py_XDECREF(opts);
	Py_XDECREF(srv);
	Py_XDECREF(cls);
	Py_XDECREF(get_class);
	if (!ok)
		mc_report_python_error(ERROR);
	return result;
}
