/*
 * tools: an agent_tools row as the function tool OpenAI is given.
 *
 * Shared by the webhook's /api/tools/ and the relay's session.update so
 * that both accept and refuse exactly the same rows.
 */
#ifndef CALLBRIDGE_TOOLS_H
#define CALLBRIDGE_TOOLS_H

#include <json-c/json.h>

/*
 * {"type":"function","name":…,"description":…,"parameters":{…}} for a
 * row, or NULL with a static reason in *why when parameters is not a JSON
 * object (the row is then skipped by the caller, who logs the reason).
 */
json_object	*tool_object(const char *name, const char *description,
		    const char *parameters, const char **why);

#endif
