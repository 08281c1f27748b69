/*
 * tools: agent_tools rows as OpenAI function tools (see tools.h).
 */
#include "config.h"

#include "tools.h"

json_object *
tool_object(const char *name, const char *description,
    const char *parameters, const char **why)
{
	enum json_tokener_error	 jerr = json_tokener_success;
	json_object		*params, *t;

	params = json_tokener_parse_verbose(parameters, &jerr);
	if (params == NULL) {
		*why = "parameters is not valid JSON";
		return NULL;
	}
	if (!json_object_is_type(params, json_type_object)) {
		json_object_put(params);
		*why = "parameters is not a JSON object";
		return NULL;
	}
	t = json_object_new_object();
	json_object_object_add(t, "type", json_object_new_string("function"));
	json_object_object_add(t, "name", json_object_new_string(name));
	json_object_object_add(t, "description",
	    json_object_new_string(description));
	json_object_object_add(t, "parameters", params);
	return t;
}
