"""The SMART style document the sandbox EHR passes to launched apps (`smart_style_url`).

SMART App Launch 2.x "Styling" (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html#styling):
colours and font taken from the simulator's own stylesheet (static/css/stratify.css).
"""

from typing import Any

SMART_STYLE: dict[str, Any] = {
    "color_background": "#ffffff",
    "color_error": "#b00020",
    "color_highlight": "#0b5cad",
    "color_modal_backdrop": "",
    "color_success": "#1a7f37",
    "color_text": "#1b1f24",
    "dim_border_radius": "8px",
    "dim_font_size": "16px",
    "dim_spacing_size": "16px",
    "font_family_body": "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif",
    "font_family_heading": "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif",
}
