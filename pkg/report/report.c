/* placeholder until implemented */
typedef int lw_report_placeholder_t;
