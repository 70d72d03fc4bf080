"""The EHR's smart_style JSON becomes CSS variables only when every value is safe."""

from sidebar.style import css_variables


def test_valid_values_are_mapped() -> None:
    variables = css_variables(
        {
            "color_background": "#ffffff",
            "color_highlight": "rgb(11, 92, 173)",
            "color_text": "#1b1f24",
            "font_family_body": "system-ui, 'Segoe UI', Roboto, Arial, sans-serif",
        }
    )
    assert variables == {
        "--smart-bg": "#ffffff",
        "--smart-highlight": "rgb(11, 92, 173)",
        "--smart-fg": "#1b1f24",
        "--smart-font": "system-ui, 'Segoe UI', Roboto, Arial, sans-serif",
    }


def test_injection_attempts_are_dropped() -> None:
    assert (
        css_variables(
            {
                "color_background": "red;} body{display:none",
                "color_text": "#12345",
                "font_family_body": "x</style><script>alert(1)</script>",
                "font_family": "Arial'; }",
                "color_highlight": 5,
            }
        )
        == {}
    )
