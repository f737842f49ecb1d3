/* placeholder until implemented */
typedef int lw_causes_placeholder_t;
