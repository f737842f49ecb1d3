/* placeholder until implemented */
typedef int lw_trace_placeholder_t;
