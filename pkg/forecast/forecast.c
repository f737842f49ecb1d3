/* placeholder until implemented */
typedef int lw_forecast_placeholder_t;
